/// EPD's configuration optimiser (arXiv 2501.05460, §3.3 "Optimizing the configuration").
///
/// Maximises `goodput(p, b) − β · cost(p)` over encode/prefill/decode splits `p` of at most
/// `instances` instances (each stage ≥ 1) and per-instance batch limits `b`. The paper runs
/// Bayesian optimisation over a simulator; the space for one node is small (at most a few hundred
/// points for 8 GPUs), so we search it exhaustively, which finds the optimum BO approximates.
/// `evaluate` is the simulator (or a live benchmark) returning goodput in requests/s.
///
/// ```swift
/// let best = try ConfigOptimizer(beta: 0.1).optimize(instances: 8, batchLimits: [8, 32]) { c in
///     simulateGoodput(c)
/// }
/// ```
public struct ConfigOptimizer: Sendable {
    /// One point of the search space.
    public struct Candidate: Sendable, Hashable, Codable {
        public var encode: Int
        public var prefill: Int
        public var decode: Int
        public var maxBatch: Int

        public init(encode: Int, prefill: Int, decode: Int, maxBatch: Int) {
            self.encode = encode
            self.prefill = prefill
            self.decode = decode
            self.maxBatch = maxBatch
        }

        public var instances: Int { encode + prefill + decode }
        public var deployment: Deployment { .staticEPD(encode: encode, prefill: prefill, decode: decode) }
    }

    /// A scored candidate.
    public struct Scored: Sendable, Hashable {
        public var candidate: Candidate
        public var goodput: Double
        public var objective: Double
    }

    /// Price of one instance in goodput units.
    public var beta: Double
    /// Only splits using exactly all instances when true; otherwise smaller fleets compete on cost.
    public var useAllInstances: Bool

    public init(beta: Double = 0, useAllInstances: Bool = true) {
        self.beta = beta
        self.useAllInstances = useAllInstances
    }

    /// The search space, in a fixed order.
    public func candidates(instances: Int, batchLimits: [Int]) throws -> [Candidate] {
        guard instances >= 3 else { throw ClusterError.invalidArgument("need at least 3 instances for an E/P/D split, got \(instances)") }
        guard !batchLimits.isEmpty, batchLimits.allSatisfy({ $0 > 0 }) else { throw ClusterError.invalidArgument("batch limits must be positive and non-empty") }
        var result: [Candidate] = []
        for total in (useAllInstances ? instances : 3)...instances {
            for e in 1...(total - 2) {
                for p in 1...(total - e - 1) {
                    for b in batchLimits { result.append(Candidate(encode: e, prefill: p, decode: total - e - p, maxBatch: b)) }
                }
            }
        }
        return result
    }

    /// Evaluates every candidate and returns them best first (ties: fewer instances, then order).
    public func optimize(instances: Int, batchLimits: [Int], evaluate: (Candidate) throws -> Double) throws -> [Scored] {
        let space = try candidates(instances: instances, batchLimits: batchLimits)
        var scored: [(Int, Scored)] = []
        for (index, c) in space.enumerated() {
            let goodput = try evaluate(c)
            scored.append((index, Scored(candidate: c, goodput: goodput, objective: goodput - beta * Double(c.instances))))
        }
        return scored.sorted { a, b in
            (-a.1.objective, a.1.candidate.instances, a.0) < (-b.1.objective, b.1.candidate.instances, b.0)
        }.map(\.1)
    }
}
