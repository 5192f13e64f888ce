import DequeModule

/// ElasticMM's modality-level load balancer (arXiv 2507.10069, §3.2 "Modality-aware load balancing").
///
/// *Proactive:* every `interval` seconds the fleet is divided between the text and multimodal
/// groups to maximise the minimum burst tolerance `bt = allocated / required` (Shepherd, NSDI'23):
/// each group gets one instance, then every further instance goes greedily to the group with the
/// lowest bt. `required` is the group's predicted work in instances: Σ over stages of load ÷
/// per-instance stage capacity (the public code divides request rate by a fixed 5 QPS, which
/// treats a 16-image request like a text one). The prediction is the mean of the last
/// `historyLength` windows plus the recent linear slope, amplified by `peakSlopeFactor` when rising
/// (the public code's choices). The first round runs once the history is full, then every
/// `proactivePeriod`. Unlike the public code, bt divides by instance count, as the paper defines it.
///
/// *Reactive:* when a group's queue exceeds `burstQueueThreshold` requests per instance and the
/// other group can lose an instance while keeping bt ≥ 1, its least-loaded instance is preempted
/// across groups at once instead of waiting for the next proactive round.
public struct BurstTolerancePlanner: FleetPlanner {
    public var capacity: InstanceCapacity
    public var interval: Double
    public var proactivePeriod: Double
    public var historyLength: Int
    public var peakSlopeFactor: Double
    public var burstQueueThreshold: Double
    private var history: [ModalityGroup: Deque<Double>] = [:]
    private var sinceProactive: Double
    private var startedProactive = false

    public init(capacity: InstanceCapacity, interval: Double = 5, proactivePeriod: Double = 600,
                historyLength: Int = 20, peakSlopeFactor: Double = 1.5, burstQueueThreshold: Double = 20) {
        self.capacity = capacity
        self.interval = interval
        self.proactivePeriod = proactivePeriod
        self.historyLength = historyLength
        self.peakSlopeFactor = peakSlopeFactor
        self.burstQueueThreshold = burstQueueThreshold
        self.sinceProactive = 0
    }

    /// Greedy max–min burst-tolerance split of `total` instances over groups with the given required
    /// instance counts. Every group gets at least one instance when `total` allows.
    public static func allocate(total: Int, required: [ModalityGroup: Double]) -> [ModalityGroup: Int] {
        let groups = ModalityGroup.language
        var allocated = Dictionary(uniqueKeysWithValues: groups.map { ($0, 0) })
        guard total > 0 else { return allocated }
        for g in groups.prefix(total) { allocated[g] = 1 }
        var left = total - min(total, groups.count)
        while left > 0 {
            let lowest = groups.min { a, b in
                let ba = Double(allocated[a, default: 0]) / max(required[a, default: 0], 1e-9)
                let bb = Double(allocated[b, default: 0]) / max(required[b, default: 0], 1e-9)
                return ba < bb
            } ?? .multimodal
            allocated[lowest, default: 0] += 1
            left -= 1
        }
        return allocated
    }

    /// Instances a stage load needs at the profiled per-instance capacities.
    public func requiredInstances(_ load: StageLoad) -> Double {
        Stage.allCases.reduce(0) { $0 + load.rate(of: $1) / max(capacity.rate(of: $1), 1e-9) }
    }

    /// Predicted required instances of a group from its history: mean plus slope (amplified when rising).
    public func predictedRequirement(_ group: ModalityGroup) -> Double {
        let h = history[group] ?? []
        guard let last = h.last else { return 0 }
        let mean = h.reduce(0, +) / Double(h.count)
        let slope = h.count > 1 ? (last - h[0]) / Double(h.count - 1) : 0
        return max(0, max(mean, last) + (slope > 0 ? slope * peakSlopeFactor : slope))
    }

    public mutating func plan(_ cluster: some ClusterView, load: LoadObservation) -> [FleetAction] {
        for g in ModalityGroup.language {
            history[g, default: []].append(requiredInstances(load.perGroup[g] ?? StageLoad()))
            if history[g, default: []].count > historyLength { history[g]?.removeFirst() }
        }
        sinceProactive += load.window
        let fleet = cluster.instances.filter(\.isActive)
        let members = Dictionary(grouping: fleet, by: \.group)
        let required = Dictionary(uniqueKeysWithValues: ModalityGroup.language.map { ($0, predictedRequirement($0)) })
        let historyFull = (history[.multimodal]?.count ?? 0) >= historyLength
        if historyFull && (sinceProactive >= proactivePeriod || !startedProactive) {
            startedProactive = true
            sinceProactive = 0
            let target = Self.allocate(total: fleet.count, required: required)
            return rebalance(members: members, target: target)
        }
        // Reactive preemption on a burst.
        for (needy, donor) in [(ModalityGroup.multimodal, ModalityGroup.text), (.text, .multimodal)] {
            let mine = members[needy] ?? []
            let theirs = members[donor] ?? []
            guard !mine.isEmpty, theirs.count > 1 else { continue }
            let queued = Double(mine.reduce(0) { $0 + $1.queuedRequests - $1.runningDecodes })
            let donorTolerance = Double(theirs.count - 1) / max(required[donor, default: 0], 1e-9)
            if queued / Double(mine.count) > burstQueueThreshold, donorTolerance >= 1 {
                return rebalance(members: members, target: [needy: mine.count + 1, donor: theirs.count - 1])
            }
        }
        return []
    }

    /// Moves the least-loaded instances of shrinking groups to growing ones, taking the role the
    /// receiving group is shortest of. A donor never gives up the last instance of a role.
    private func rebalance(members: [ModalityGroup: [InstanceStatus]], target: [ModalityGroup: Int]) -> [FleetAction] {
        var donors: [InstanceStatus] = []
        for g in ModalityGroup.language {
            let have = members[g] ?? []
            let surplus = have.count - target[g, default: have.count]
            guard surplus > 0 else { continue }
            var roleCounts = Dictionary(grouping: have, by: \.role).mapValues(\.count)
            for s in have.sorted(by: { ($0.queuedRequests, $0.id) < ($1.queuedRequests, $1.id) }) where donors.count(where: { $0.group == g }) < surplus {
                guard roleCounts[s.role, default: 0] > 1 else { continue }
                roleCounts[s.role, default: 0] -= 1
                donors.append(s)
            }
        }
        var actions: [FleetAction] = []
        for g in ModalityGroup.language {
            var have = members[g] ?? []
            for _ in 0..<max(0, target[g, default: 0] - have.count) {
                guard !donors.isEmpty else { break }
                let moved = donors.removeFirst()
                let role = neededRole(in: have)
                actions.append(.moveGroup(instance: moved.id, to: g, role: role))
                have.append(InstanceStatus(id: moved.id, role: role, group: g))
            }
        }
        return actions
    }

    /// The role a group most lacks: the largest backlog, in seconds of work per instance, measured
    /// against the profiled stage capacity (waiting sequences count 0.1 s each on decode).
    func neededRole(in members: [InstanceStatus]) -> InstanceRole {
        let byRole = Dictionary(grouping: members, by: \.role)
        let backlog = { (role: InstanceRole, pool: [InstanceStatus]) -> Double in
            let total = pool.reduce(0.0) { sum, s in
                var seconds = 0.0
                if role.runs(.encode) { seconds += Double(s.pendingImageTokens) / max(self.capacity.encodeTokensPerSecond, 1e-9) }
                if role.runs(.prefill) { seconds += Double(s.pendingPrefillTokens) / max(self.capacity.prefillTokensPerSecond, 1e-9) }
                if role.runs(.decode) { seconds += 0.1 * Double(max(0, s.queuedRequests - s.runningDecodes)) }
                return sum + seconds
            }
            return total / Double(max(pool.count, 1))
        }
        let best = byRole.max { a, b in
            let qa = backlog(a.key, a.value), qb = backlog(b.key, b.value)
            return qa < qb || (qa == qb && a.key.rawValue > b.key.rawValue)
        }
        return best?.key ?? .mono
    }
}
