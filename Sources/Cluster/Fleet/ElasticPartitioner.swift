/// ElasticMM's Elastic Partition Scheduling at the stage level (arXiv 2507.10069, §3.3).
///
/// Inside each modality group, every `interval` seconds:
/// 1. a prefill (or encode) backlog first takes an idle instance of another stage;
/// 2. otherwise the decode instance with the lightest batch, `e`, is preempted for prefill when
///    `Gain > Cost`, with
///    `Gain = Σ_{r∈Rp} [T(Rp,Ep) − T(Rp,Ep ∪ e)] / r.input_len` and
///    `Cost = Σ_{r∈Bd} [M(e) + w·L(Bd, Ed − e)] / r.output_len`,
///    T the data-parallel prefill time of the queued requests, M the KV migration time of `e`'s
///    batch and L the decode step latency of the batch spread over the remaining decode instances
///    (read literally from the paper's L(Bd, Ed − e): a per-step latency, not a total).
///    Per-request sums use the group aggregates (count and token totals) the cluster view exposes;
/// 3. decode-driven scaling: when decode instances are short of KV (utilisation above
///    `decodePressure`) an idle prefill-side instance turns into a decode instance.
/// Data parallelism is used inside a stage, so only KV moves on a switch. Idle instances move one
/// per round; under a burst, decode instances keep being preempted while each passes the test.
public struct ElasticPartitioner: FleetPlanner {
    public var capacity: InstanceCapacity
    public var interval: Double
    /// Weight `w` of the decode latency in the cost term.
    public var decodeSlowdownWeight: Double
    /// Prefill backlog (seconds of work per prefill instance) that counts as a burst.
    public var backlogSeconds: Double
    public var decodePressure: Double

    public init(capacity: InstanceCapacity, interval: Double = 2, decodeSlowdownWeight: Double = 1,
                backlogSeconds: Double = 0.5, decodePressure: Double = 0.85) {
        self.capacity = capacity
        self.interval = interval
        self.decodeSlowdownWeight = decodeSlowdownWeight
        self.backlogSeconds = backlogSeconds
        self.decodePressure = decodePressure
    }

    /// The gain–cost test for moving one decode instance to prefill.
    /// - Parameters: prefill queue (`queued` requests, `queuedTokens` tokens, `prefillInstances`),
    ///   decode side (`decodeInstances`, `running` sequences, `remainingTokens` predicted, and the
    ///   KV tokens `migratedKV` held by the instance that would move).
    public func gainExceedsCost(queued: Int, queuedTokens: Int, prefillInstances: Int,
                                decodeInstances: Int, running: Int, remainingTokens: Int, migratedKV: Int) -> Bool {
        guard queued > 0, queuedTokens > 0, decodeInstances > 1, prefillInstances > 0 else { return false }
        let rate = max(capacity.prefillTokensPerSecond, 1e-9)
        let t = { (e: Int) in Double(queuedTokens) / (Double(e) * rate) }
        // Σ 1/input_len over the queue, approximated by n / mean length.
        let inverseLengths = Double(queued * queued) / Double(queuedTokens)
        let gain = (t(prefillInstances) - t(prefillInstances + 1)) * inverseLengths
        guard running > 0 else { return gain > 0 }
        let meanRemaining = max(1, Double(remainingTokens) / Double(running))
        let step = { (batch: Double) in self.capacity.decodeStepSeconds + self.capacity.decodeStepSecondsPerSequence * batch }
        let after = step(Double(running) / Double(decodeInstances - 1))
        let migration = Double(migratedKV) * capacity.kvTransferSecondsPerToken
        let cost = Double(running) * (migration + decodeSlowdownWeight * after) / meanRemaining
        return gain > cost
    }

    public mutating func plan(_ cluster: some ClusterView, load: LoadObservation) -> [FleetAction] {
        var actions: [FleetAction] = []
        for group in ModalityGroup.language {
            let members = cluster.active(group: group)
            guard members.count > 1 else { continue }
            actions += planGroup(members)
        }
        return actions
    }

    private func planGroup(_ members: [InstanceStatus]) -> [FleetAction] {
        let prefillRole: InstanceRole = members.contains { $0.role == .encodePrefill } ? .encodePrefill : .prefill
        let prefill = members.filter { $0.role == prefillRole }
        let encode = members.filter { $0.role == .encode }
        var decode = members.filter { $0.role == .decode }
        guard !prefill.isEmpty, !decode.isEmpty else { return [] }

        let queued = prefill.reduce(0) { $0 + $1.queuedRequests }
        let queuedTokens = prefill.reduce(0) { $0 + $1.pendingPrefillTokens + $1.pendingImageTokens }
        let prefillBacklog = Double(queuedTokens) / max(capacity.prefillTokensPerSecond, 1e-9) / Double(prefill.count)
        let encodeBacklog = encode.isEmpty ? 0
            : Double(encode.reduce(0) { $0 + $1.pendingImageTokens }) / max(capacity.encodeTokensPerSecond, 1e-9) / Double(encode.count)
        let idle = { (pool: [InstanceStatus]) in pool.filter(\.isIdle).min { $0.id < $1.id } }

        // Encode backlog: borrow an idle prefill or decode instance.
        if encodeBacklog > backlogSeconds, encodeBacklog > prefillBacklog {
            if prefill.count > 1, let spare = idle(prefill) { return [.switchRole(instance: spare.id, to: .encode)] }
            if decode.count > 1, let spare = idle(decode) { return [.switchRole(instance: spare.id, to: .encode)] }
        }
        if prefillBacklog > backlogSeconds {
            if encode.count > 1, let spare = idle(encode) { return [.switchRole(instance: spare.id, to: prefillRole)] }
            if decode.count > 1, let spare = idle(decode) { return [.switchRole(instance: spare.id, to: prefillRole)] }
            // Preempt decode instances, lightest batch first, while each still passes the test.
            var actions: [FleetAction] = []
            var prefillCount = prefill.count
            decode.sort { ($0.runningDecodes, $0.id) < ($1.runningDecodes, $1.id) }
            while decode.count > 1, let victim = decode.first {
                let running = decode.reduce(0) { $0 + $1.runningDecodes }
                let remaining = decode.reduce(0) { $0 + $1.predictedDecodeTokens }
                guard gainExceedsCost(queued: queued, queuedTokens: queuedTokens, prefillInstances: prefillCount,
                                      decodeInstances: decode.count, running: running, remainingTokens: remaining,
                                      migratedKV: victim.kvUsedTokens) else { break }
                actions.append(.switchRole(instance: victim.id, to: prefillRole))
                decode.removeFirst()
                prefillCount += 1
            }
            return actions
        }
        // Decode-driven scaling: give decode an idle prefill-side instance when KV runs short.
        // KV pressure, not momentary waiting: sequences wait a few milliseconds for every step boundary.
        let kvUsed = decode.reduce(0.0) { $0 + $1.kvUtilization } / Double(decode.count)
        if kvUsed > decodePressure {
            if prefill.count > 1, let spare = idle(prefill) { return [.switchRole(instance: spare.id, to: .decode)] }
            if encode.count > 1, let spare = idle(encode) { return [.switchRole(instance: spare.id, to: .decode)] }
        }
        return []
    }
}
