import Simulator

/// Fits the cost model's functional forms to measured points (see ``CostModel``):
/// prefill `fixed + perToken·T + perTokenSquared·Σlen²`, decode `fixed + perSequence·batch +
/// perContextToken·Σcontext`, transfer `latency + bytes / bandwidth`; all coefficients ≥ 0,
/// minimising relative error.
public enum CostModelFit {
    /// `(fixedMs, perTokenMs, perTokenSquaredMs)`.
    public static func prefill(_ points: [CostModel.Measurements.Prefill]) throws(ProfileError) -> (fixedMs: Double, perTokenMs: Double, perTokenSquaredMs: Double) {
        let c = try NonNegativeLeastSquares.fit(
            rows: points.map { [1, Double($0.tokens), $0.squaredLengths] }, targets: points.map(\.ms), stage: "prefill")
        return (c[0], c[1], c[2])
    }

    /// `(fixedMs, perSequenceMs, perContextTokenMs)`.
    public static func decode(_ points: [CostModel.Measurements.Decode]) throws(ProfileError) -> (fixedMs: Double, perSequenceMs: Double, perContextTokenMs: Double) {
        let c = try NonNegativeLeastSquares.fit(
            rows: points.map { [1, Double($0.batch), Double($0.contextTokens)] }, targets: points.map(\.ms), stage: "decode")
        return (c[0], c[1], c[2])
    }

    /// `(latencyMs, bandwidthGBps)`.
    public static func transfer(_ points: [CostModel.Measurements.Transfer]) throws(ProfileError) -> (latencyMs: Double, bandwidthGBps: Double) {
        let c = try NonNegativeLeastSquares.fit(rows: points.map { [1, Double($0.bytes)] }, targets: points.map(\.ms), stage: "transfer")
        guard c[1] > 0 else { throw .tooFewPoints(stage: "transfer (no size dependence measured)", points: points.count, needed: 2) }
        // c[1] is ms per byte: bytes per ms · 1000 = bytes/s.
        return (c[0], 1 / c[1] * 1000 / 1e9)
    }

    /// Largest relative error |predicted − measured| / measured of `model` on its own measurements.
    public static func worstRelativeError(of model: CostModel) -> Double {
        guard let m = model.measurements else { return 0 }
        let prefill = m.prefill.map { p in abs(model.prefillSeconds(tokens: Double(p.tokens), squaredLengths: p.squaredLengths) * 1000 - p.ms) / p.ms }
        let decode = m.decode.map { d in abs(model.decodeStepSeconds(batch: d.batch, contextTokens: d.contextTokens) * 1000 - d.ms) / d.ms }
        let copy = m.transfer.map { t in abs(model.transferSeconds(bytes: Double(t.bytes)) * 1000 - t.ms) / t.ms }
        return (prefill + decode + copy).max() ?? 0
    }
}
