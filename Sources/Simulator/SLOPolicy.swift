import Cluster

/// Latency objectives of a run: a base objective and per-class multipliers.
///
/// Either absolute (`ttftSeconds`, `tpotSeconds`) or ModServe-style relative to the P99 latency
/// of each request served alone (`ttftScale`, `tpotScale`), resolved by ``resolved(trace:costModel:)``.
public struct SLOPolicy: Sendable, Hashable, Codable {
    public var ttftSeconds: Double?
    public var tpotSeconds: Double?
    public var ttftScale: Double?
    public var tpotScale: Double?
    /// Multiplier of the base objectives per `slo_class` (e.g. `"batch": 4`).
    public var classMultipliers: [String: Double]?

    public init(ttftSeconds: Double? = nil, tpotSeconds: Double? = nil, ttftScale: Double? = nil, tpotScale: Double? = nil, classMultipliers: [String: Double]? = nil) {
        self.ttftSeconds = ttftSeconds
        self.tpotSeconds = tpotSeconds
        self.ttftScale = ttftScale
        self.tpotScale = tpotScale
        self.classMultipliers = classMultipliers
    }

    /// The objective of a request of the given class (absolute values must be resolved).
    public func objective(for sloClass: String?) -> LatencySLO {
        let m = sloClass.flatMap { classMultipliers?[$0] } ?? 1
        return LatencySLO(ttft: (ttftSeconds ?? .infinity) * m, tpot: (tpotSeconds ?? .infinity) * m)
    }

    /// Absolute objectives: scales become multiples of the P99 lone-request TTFT (encode +
    /// transfer + prefill) and the single-sequence decode step.
    public func resolved(trace: Trace, costModel: CostModel) throws -> SLOPolicy {
        var out = self
        if out.ttftSeconds == nil {
            guard let scale = ttftScale, scale > 0 else { throw SimulationError.invalidConfig("slo needs ttftSeconds or a positive ttftScale") }
            let lone = trace.requests.map { r -> Double in
                let tokens = r.images.reduce(0) { $0 + costModel.imageTokens.tokens(width: $1.width, height: $1.height) }
                let prompt = Double(r.textTokens) + Double(tokens) * costModel.prefill.imageTokenWeight
                return costModel.encodeSeconds(images: r.images.count, tokens: tokens)
                    + costModel.transferSeconds(bytes: Double(tokens) * costModel.transfer.bytesPerImageToken)
                    + costModel.prefillSeconds(tokens: prompt, squaredLengths: prompt * prompt)
            }.sorted()
            out.ttftSeconds = scale * (lone.isEmpty ? 1 : lone[min(lone.count - 1, Int(0.99 * Double(lone.count - 1)))])
        }
        if out.tpotSeconds == nil {
            guard let scale = tpotScale, scale > 0 else { throw SimulationError.invalidConfig("slo needs tpotSeconds or a positive tpotScale") }
            out.tpotSeconds = scale * costModel.decodeStepSeconds(batch: 1, contextTokens: 2048)
        }
        return out
    }
}

/// Mean request shape of a trace, for the planners' reference capacities.
struct TraceStatistics {
    var meanImageTokens = 0.0
    var meanImages = 0.0
    var meanPromptTokens = 1.0
    var meanOutputTokens = 1.0

    init(trace: Trace, rule: ImageTokenRule) {
        let n = Double(max(trace.requests.count, 1))
        var image = 0.0, images = 0.0, prompt = 0.0, output = 0.0
        for r in trace.requests {
            let t = Double(r.images.reduce(0) { $0 + rule.tokens(width: $1.width, height: $1.height) })
            image += t
            images += Double(r.images.count)
            prompt += Double(r.textTokens) + t
            output += Double(r.outputTokens)
        }
        meanImageTokens = image / n
        meanImages = images / n
        meanPromptTokens = max(1, prompt / n)
        meanOutputTokens = max(1, output / n)
    }
}
