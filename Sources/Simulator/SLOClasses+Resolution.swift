import Cluster

/// What a simulation config's SLO objectives are measured in.
public enum SLOUnit: String, Sendable, Hashable, Codable {
    /// Seconds, as `tessera serve --slo-class` takes them.
    case seconds
    /// ModServe-style relative objectives: a class's TTFT in multiples of the
    /// P99 TTFT of the trace's requests served alone (encode + transfer + prefill), its TPOT in
    /// multiples of a single-sequence decode step.
    case loneRequest = "lone-request"
}

extension SLOClasses {
    /// The classes in seconds: objectives in `unit` on `trace` under `costModel`.
    ///
    /// ```swift
    /// let slo = try SLOClasses(LatencySLO(ttft: 5, tpot: 5)).resolved(.loneRequest, trace: trace, costModel: model)
    /// ```
    public func resolved(_ unit: SLOUnit, trace: Trace, costModel: CostModel) -> SLOClasses {
        guard unit == .loneRequest else { return self }
        let lone = trace.requests.map { r -> Double in
            let tokens = r.images.reduce(0) { $0 + costModel.imageTokens.tokens(width: $1.width, height: $1.height) }
            let prompt = Double(r.textTokens) + Double(tokens) * costModel.prefill.imageTokenWeight
            return costModel.encodeSeconds(images: r.images.count, tokens: tokens)
                + costModel.transferSeconds(bytes: Double(tokens) * costModel.transfer.bytesPerImageToken)
                + costModel.prefillSeconds(tokens: prompt, squaredLengths: prompt * prompt)
        }.sorted()
        let ttft = lone.isEmpty ? 1 : lone[min(lone.count - 1, Int(0.99 * Double(lone.count - 1)))]
        return scaled(ttft: ttft, tpot: costModel.decodeStepSeconds(batch: 1, contextTokens: 2048))
    }
}
