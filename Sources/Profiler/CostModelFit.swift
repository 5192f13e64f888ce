import Simulator

/// Fits the cost model's functional forms to measured points (see ``CostModel``), all coefficients
/// ≥ 0, minimising relative error:
/// - one engine step (prefill batch, decode step, or both in one forward pass): `fixed +
///   perToken·T + perTokenSquared·Σ chunk·(before + chunk) + perSequence·batch + perContextToken·Σcontext`,
///   one fixed cost for all three shapes, as the engine pays it;
/// - steps small enough for the engine's matrix-vector kernels on their own (``smallStep``);
/// - encode: `fixed + perImage·images + perToken·imageTokens`;
/// - transfer: `latency + bytes / bandwidth`.
public enum CostModelFit {
    /// Coefficients of one batched forward pass, in milliseconds.
    public struct Step: Sendable, Equatable {
        public var fixedMs: Double
        public var perTokenMs: Double
        public var perTokenSquaredMs: Double
        public var perSequenceMs: Double
        public var perContextTokenMs: Double
    }

    /// Fits prefill batches, decode steps and mixed steps together, so the fixed cost of a forward
    /// pass is counted once whatever the step holds.
    public static func step(prefill: [CostModel.Measurements.Prefill], decode: [CostModel.Measurements.Decode],
                            mixed: [CostModel.Measurements.Mixed]) throws(ProfileError) -> Step {
        let rows = prefill.map { [1, Double($0.tokens), $0.squaredLengths, 0, 0] }
            + decode.map { [1, 0, 0, Double($0.batch), Double($0.contextTokens)] }
            + mixed.map { [1, Double($0.prefillTokens), $0.squaredLengths, Double($0.batch), Double($0.contextTokens)] }
        let targets = prefill.map(\.ms) + decode.map(\.ms) + mixed.map(\.ms)
        let c = try NonNegativeLeastSquares.fit(rows: rows, targets: targets, stage: "engine step")
        return Step(fixedMs: c[0], perTokenMs: c[1], perTokenSquaredMs: c[2], perSequenceMs: c[3], perContextTokenMs: c[4])
    }

    /// Steps of at most `maxTokens` tokens in all (see ``CostModel/SmallStep``): `fixed +
    /// perToken·tokens + perAttendedToken·(Σcontext + Σ chunk·(before + chunk))`.
    public static func smallStep(maxTokens: Int, prefill: [CostModel.Measurements.Prefill], decode: [CostModel.Measurements.Decode],
                                 mixed: [CostModel.Measurements.Mixed]) throws(ProfileError) -> CostModel.SmallStep {
        let rows = prefill.map { [1, Double($0.tokens), $0.squaredLengths] }
            + decode.map { [1, Double($0.batch), Double($0.contextTokens)] }
            + mixed.map { [1, Double($0.prefillTokens + $0.batch), $0.squaredLengths + Double($0.contextTokens)] }
        let targets = prefill.map(\.ms) + decode.map(\.ms) + mixed.map(\.ms)
        let c = try NonNegativeLeastSquares.fit(rows: rows, targets: targets, stage: "small steps")
        return .init(maxTokens: maxTokens, fixedMs: c[0], perTokenMs: c[1], perAttendedTokenMs: c[2])
    }

    /// `(fixedMs, perImageMs, perTokenMs)`. With one token count per image (fixed-size encoders) the
    /// image and token columns are collinear and the fit keeps whichever explains the points best.
    public static func encode(_ points: [CostModel.Measurements.Encode]) throws(ProfileError) -> (fixedMs: Double, perImageMs: Double, perTokenMs: Double) {
        let c = try NonNegativeLeastSquares.fit(
            rows: points.map { [1, Double($0.images), Double($0.tokens)] }, targets: points.map(\.ms), stage: "encode")
        return (c[0], c[1], c[2])
    }

    /// `(latencyMs, bandwidthGBps)`.
    public static func transfer(_ points: [CostModel.Measurements.Transfer]) throws(ProfileError) -> (latencyMs: Double, bandwidthGBps: Double) {
        let c = try NonNegativeLeastSquares.fit(rows: points.map { [1, Double($0.bytes)] }, targets: points.map(\.ms), stage: "transfer")
        guard c[1] > 0 else { throw .tooFewPoints(stage: "transfer (no size dependence measured)", points: points.count, needed: 2) }
        // c[1] is ms per byte: bytes per ms · 1000 = bytes/s.
        return (c[0], 1 / c[1] * 1000 / 1e9)
    }

    /// Relative errors |predicted − measured| / measured of `model` on its own measurements, by stage.
    public static func relativeErrors(of model: CostModel) -> [(stage: String, errors: [Double])] {
        guard let m = model.measurements else { return [] }
        let error = { (seconds: Double, ms: Double) in abs(seconds * 1000 - ms) / ms }
        return [
            ("prefill", m.prefill.map { error(model.prefillSeconds(tokens: Double($0.tokens), squaredLengths: $0.squaredLengths), $0.ms) }),
            ("decode", m.decode.map { error(model.decodeStepSeconds(batch: $0.batch, contextTokens: $0.contextTokens), $0.ms) }),
            ("mixed", (m.mixed ?? []).map {
                error(model.stepSeconds(prefillTokens: Double($0.prefillTokens), squaredLengths: $0.squaredLengths,
                                        decodeBatch: $0.batch, contextTokens: $0.contextTokens), $0.ms)
            }),
            ("encode", (m.encode ?? []).map { error(model.encodeSeconds(images: $0.images, tokens: $0.tokens), $0.ms) }),
            ("transfer", m.transfer.map { error(model.transferSeconds(bytes: Double($0.bytes)), $0.ms) }),
        ].filter { !$0.errors.isEmpty }
    }

    /// Largest relative error of `model` on its own measurements.
    public static func worstRelativeError(of model: CostModel) -> Double {
        relativeErrors(of: model).flatMap(\.errors).max() ?? 0
    }
}
