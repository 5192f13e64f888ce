import Foundation

/// DPM-Solver++ (Lu et al., 2022), multistep, data prediction, first or second order (DPM++ 2M):
/// `diffusers`' `DPMSolverMultistepScheduler` with `algorithm_type="dpmsolver++"`.
public struct DPMSolverMultistepScheduler: DiffusionScheduler {
    public let config: SchedulerConfig
    public let timesteps: [Double]
    /// One σ per step plus the final σ.
    public let sigmas: [Float]
    public let initNoiseSigma: Float = 1
    /// The converted predictions (x̂₀) of the previous and current step.
    private var previousOutput: [Float]?
    private var lowerOrderCount = 0

    init(_ config: SchedulerConfig, steps: Int) {
        self.config = config
        let schedule = NoiseSchedule(config)
        let table = schedule.sigmas
        let train = config.numTrainTimesteps
        // λₜ = log αₜ − log σₜ ascends as t falls; clipping at lambda_min_clipped shortens the range.
        let lambdas = schedule.alphasCumprod.map { logf($0.squareRoot()) - logf((1 - $0).squareRoot()) }
        let clipped = lambdas.reversed().prefix { Double($0) < config.lambdaMinClipped }.count
        let lastTimestep = train - clipped
        var times: [Double]
        switch config.timestepSpacing {
        case .linspace:
            times = NumPy.linspace(0, Double(lastTimestep - 1), steps + 1).map(NumPy.round).reversed().dropLast()
        case .leading:
            let ratio = lastTimestep / (steps + 1)
            times = (0 ... steps).reversed().dropLast().map { Double($0 * ratio + config.stepsOffset) }
        case .trailing:
            times = NumPy.arange(Double(lastTimestep), 0, -Double(train) / Double(steps)).map { NumPy.round($0) - 1 }
        }
        var stepSigmas: [Double]
        if config.useKarrasSigmas {
            stepSigmas = NumPy.karras(sigmaMin: Double(table[0]), sigmaMax: Double(table[table.count - 1]), count: steps)
            let logSigmas = table.map { logf($0) }
            times = stepSigmas.map { NumPy.round(NumPy.sigmaToT($0, logSigmas: logSigmas)) }
        } else {
            stepSigmas = times.map { NumPy.interp($0, table) }
        }
        sigmas = stepSigmas.map { Float($0) } + [config.finalSigmaIsZero ? 0 : table[0]]
        timesteps = times
    }

    public func scaleModelInput(_ sample: [Float], step: Int) -> [Float] { sample }

    /// (αₜ, σₜ) of the variance-preserving process at noise level `sigma`.
    private static func alphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    private static func lambda(_ pair: (alpha: Float, sigma: Float)) -> Float { logf(pair.alpha) - logf(pair.sigma) }

    public mutating func step(modelOutput: [Float], step: Int, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        let count = timesteps.count
        let lowerOrderFinal = step == count - 1
            && (config.eulerAtFinal || (config.lowerOrderFinal && count < 15) || config.finalSigmaIsZero)

        let s0 = Self.alphaSigma(sigmas[step])
        let original: [Float]
        switch config.predictionType {
        case .epsilon: original = (0 ..< sample.count).map { (sample[$0] - s0.sigma * modelOutput[$0]) / s0.alpha }
        case .vPrediction: original = (0 ..< sample.count).map { s0.alpha * sample[$0] - s0.sigma * modelOutput[$0] }
        }
        let previous = previousOutput
        previousOutput = original

        let t = Self.alphaSigma(sigmas[step + 1])
        let h = Self.lambda(t) - Self.lambda(s0)
        let sampleScale = t.sigma / s0.sigma
        let outputScale = t.alpha * (expf(-h) - 1)
        let result: [Float]
        if config.solverOrder == 2, lowerOrderCount >= 1, !lowerOrderFinal, let m1 = previous {
            let s1 = Self.alphaSigma(sigmas[step - 1])
            let h0 = Self.lambda(s0) - Self.lambda(s1)
            let inverseRatio = 1 / (h0 / h)
            let d1 = (0 ..< sample.count).map { inverseRatio * (original[$0] - m1[$0]) }
            let correction = config.solverTypeHeun ? -(t.alpha * ((expf(-h) - 1) / h + 1)) : 0.5 * outputScale
            result = (0 ..< sample.count).map { sampleScale * sample[$0] - outputScale * original[$0] - correction * d1[$0] }
        } else {
            result = (0 ..< sample.count).map { sampleScale * sample[$0] - outputScale * original[$0] }
        }
        if lowerOrderCount < config.solverOrder { lowerOrderCount += 1 }
        return result
    }

    public func addNoise(_ original: [Float], noise: [Float], step: Int) -> [Float] {
        let pair = Self.alphaSigma(sigmas[step])
        return Elementwise.combine(pair.alpha, original, pair.sigma, noise)
    }
}
