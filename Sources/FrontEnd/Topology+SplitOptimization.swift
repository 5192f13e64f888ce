import Cluster
import CoreUtilities
import Foundation
import Simulator

extension Topology {
    /// A topology's `optimizeSplit`: the multimodal group's encode/prefill/decode counts and the
    /// prefill workers' batch limit are chosen at launch by EPD's configuration search (arXiv
    /// 2501.05460, §3.3, ``ConfigOptimizer``), each candidate simulated on `workload` with the cost
    /// model of `tessera serve --profile`, exactly as `tessera simulate` does for a system's
    /// `optimizeSplit` (``SystemSpec/rankSplits(_:instances:trace:costModel:slo:predictor:)``).
    /// `batchLimits`, `rate` and `beta` mean what they mean there; `instances` defaults to the
    /// group's written workers, and `workload` is a simulation config's `trace` (a path in it is
    /// relative to the topology file).
    ///
    /// ```yaml
    /// optimizeSplit:
    ///   instances: 4
    ///   batchLimits: [1, 4]
    ///   beta: 0
    ///   workload: {synthetic: {durationSeconds: 120, ratePerSecond: 2, seed: 7}}
    /// groups:
    ///   - group: multimodal
    ///     workers:
    ///       - {role: encode, count: 1}
    ///       - {role: prefill, count: 1}
    ///       - {role: decode, count: 2}
    /// ```
    public struct SplitOptimization: Sendable, Hashable, Codable {
        public var search: SystemSpec.SplitSearch
        public var instances: Int?
        public var workload: SimulationConfig.TraceSource

        public init(search: SystemSpec.SplitSearch, instances: Int? = nil, workload: SimulationConfig.TraceSource) {
            self.search = search
            self.instances = instances
            self.workload = workload
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case batchLimits, rate, beta, instances, workload
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.stringValue)))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            search = try SystemSpec.SplitSearch(from: decoder)
            instances = try c.decodeIfPresent(Int.self, forKey: .instances)
            workload = try c.decode(SimulationConfig.TraceSource.self, forKey: .workload)
        }

        public func encode(to encoder: any Encoder) throws {
            try search.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(instances, forKey: .instances)
            try c.encode(workload, forKey: .workload)
        }
    }

    /// The roles a split sets, in ``ConfigOptimizer/Candidate`` order.
    static let splitRoles: [InstanceRole] = [.encode, .prefill, .decode]

    /// The system the simulator scores candidates on: the multimodal group as written and the
    /// topology's policies, with the first token sampled on the decode worker as the live workers do.
    public var simulatedSystem: SystemSpec {
        var system = SystemSpec(name: "topology", deployment: Deployment(slots: slots.filter { $0.group == .multimodal }.map {
            Deployment.Slot(role: $0.spec.role, group: .multimodal, count: 1)
        }))
        system.policies = policies
        system.firstTokenOnDecode = true
        return system
    }

    /// Runs the topology's `optimizeSplit` and returns the candidates best first; empty without one.
    public func rankSplits(costModel: CostModel, slo: SLOClasses, baseDirectory: URL) throws(FrontEndError) -> [ConfigOptimizer.Scored] {
        guard let optimizeSplit else { return [] }
        let system = simulatedSystem
        do {
            let trace = try ExperimentRunner.buildTrace(optimizeSplit.workload, rate: optimizeSplit.search.rate, baseDirectory: baseDirectory)
            return try system.rankSplits(optimizeSplit.search, instances: optimizeSplit.instances ?? system.deployment.size,
                                         trace: trace, costModel: costModel, slo: slo)
        } catch {
            throw .badTopology("optimizeSplit: \(error)")
        }
    }

    /// This topology with its `optimizeSplit`'s best split applied (``applying(_:)``), and that
    /// split as the search scored it; nil without an `optimizeSplit`. `tessera serve --topology`
    /// launches what it returns.
    public func optimizingSplit(costModel: CostModel, slo: SLOClasses, baseDirectory: URL) throws(FrontEndError)
        -> (topology: Topology, chosen: ConfigOptimizer.Scored)?
    {
        guard let best = try rankSplits(costModel: costModel, slo: slo, baseDirectory: baseDirectory).first else { return nil }
        return (applying(best.candidate), best)
    }

    /// This topology with the multimodal group's encode, prefill and decode workers counted as
    /// `split` says, and its prefill workers batching at most `split.maxBatch` requests
    /// (`--max-num-seqs`, their engines' prefill batch).
    public func applying(_ split: ConfigOptimizer.Candidate) -> Topology {
        var result = self
        let counts = [split.encode, split.prefill, split.decode]
        for g in result.groups.indices where result.groups[g].group == .multimodal {
            var workers = result.groups[g].workers
            for (role, count) in zip(Self.splitRoles, counts) {
                let written = workers.indices.filter { workers[$0].role == role }
                // One spec per role carries the count (the first written, its launcher and arguments kept).
                if let first = written.first {
                    workers[first].count = count
                    for other in written.dropFirst() { workers[other].count = 0 }
                } else {
                    workers.append(WorkerSpec(role: role, count: count))
                }
            }
            for w in workers.indices where workers[w].role == .prefill {
                workers[w].arguments = (workers[w].arguments ?? []) + ["--max-num-seqs", String(split.maxBatch)]
            }
            result.groups[g].workers = workers
        }
        result.chosenSplit = split
        return result
    }

    /// What `optimizeSplit` asks of the rest of the topology: one language-model group, the
    /// multimodal one, of encode, prefill and decode workers (what the simulator scores).
    func validateSplitOptimization() throws(FrontEndError) {
        guard let optimizeSplit else { return }
        let groups = self.groups.filter { $0.group != .image }
        guard groups.count == 1, let group = groups.first, group.group == .multimodal,
              group.workers.allSatisfy({ Self.splitRoles.contains($0.role) && $0.pipeline == nil }) else {
            throw .badTopology("optimizeSplit chooses the encode/prefill/decode split of one multimodal group: give only that group (and an image group), with encode, prefill and decode workers")
        }
        let instances = optimizeSplit.instances ?? group.workers.reduce(0) { $0 + $1.count }
        guard instances >= 3 else { throw .badTopology("optimizeSplit needs at least 3 instances for an E/P/D split, got \(instances)") }
        guard !optimizeSplit.search.batchLimits.isEmpty, optimizeSplit.search.batchLimits.allSatisfy({ $0 > 0 }) else {
            throw .badTopology("optimizeSplit: batchLimits must be positive and non-empty")
        }
        guard (optimizeSplit.search.rate ?? 1) > 0, (optimizeSplit.search.beta ?? 0) >= 0 else {
            throw .badTopology("optimizeSplit: rate must be positive and beta non-negative")
        }
        guard optimizeSplit.workload.synthetic != nil || optimizeSplit.workload.file != nil else {
            throw .badTopology("optimizeSplit: workload needs 'synthetic' or 'file'")
        }
    }
}
