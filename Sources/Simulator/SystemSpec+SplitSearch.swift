import Cluster

extension SystemSpec {
    /// EPD's configuration search (arXiv 2501.05460, §3.3) for this system: every encode/prefill/decode
    /// split of `instances` instances and every prefill batch limit of `search`, each simulated on
    /// `trace` with this system's policies, ranked by ``ConfigOptimizer`` (best first).
    ///
    /// `tessera simulate` runs it for a system's `optimizeSplit`, `tessera serve --topology` for a
    /// topology's (`Topology.optimizedSplit`), so both choose the same split from the same inputs.
    ///
    /// ```swift
    /// let best = try system.rankSplits(search, instances: 4, trace: trace, costModel: cost, slo: .standard).first
    /// ```
    public func rankSplits(_ search: SplitSearch, instances: Int, trace: Trace, costModel: CostModel, slo: SLOClasses,
                           predictor: OutputLengthPredictor? = nil) throws -> [ConfigOptimizer.Scored] {
        try ConfigOptimizer(beta: search.beta ?? 0).optimize(instances: instances, batchLimits: search.batchLimits) { candidate in
            var trial = self
            trial.deployment = candidate.deployment
            trial.maxPrefillBatch = candidate.maxBatch
            return try ClusterSimulator.run(trace: trace, system: trial, costModel: costModel, slo: slo, predictor: predictor).goodput
        }
    }
}
