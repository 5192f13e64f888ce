import Foundation

/// Euler sampling of the probability-flow ODE (Karras et al., 2022, algorithm 2 without churn),
/// or with `kind == .eulerAncestral` the ancestral variant that re-injects noise every step:
/// `diffusers`' `EulerDiscreteScheduler` and `EulerAncestralDiscreteScheduler`.
public struct EulerScheduler: DiffusionScheduler {
    public let config: SchedulerConfig
    public let timesteps: [Double]
    /// One σ per step plus the final σ (0 or σ at t = 0).
    public let sigmas: [Float]
    public let initNoiseSigma: Float

    init(_ config: SchedulerConfig, steps: Int) {
        self.config = config
        let table = NoiseSchedule(config).sigmas
        let train = config.numTrainTimesteps
        var times: [Double]
        switch config.timestepSpacing {
        case .linspace:
            times = NumPy.linspace(0, Double(train - 1), steps).reversed().map { Double(Float($0)) }
        case .leading:
            let ratio = train / steps
            times = (0 ..< steps).reversed().map { Double($0 * ratio + config.stepsOffset) }
        case .trailing:
            times = NumPy.arange(Double(train), 0, -Double(train) / Double(steps)).map { NumPy.round($0) - 1 }
        }
        var stepSigmas = times.map { NumPy.interp($0, table) }
        if config.kind == .euler, config.useKarrasSigmas {
            stepSigmas = NumPy.karras(sigmaMin: config.sigmaMin ?? stepSigmas.last!, sigmaMax: config.sigmaMax ?? stepSigmas[0],
                                      count: steps)
            let logSigmas = table.map { logf($0) }
            times = stepSigmas.map { NumPy.sigmaToT($0, logSigmas: logSigmas) }
        }
        let last: Float = config.kind == .euler && !config.finalSigmaIsZero ? table[0] : 0
        sigmas = stepSigmas.map { Float($0) } + [last]
        timesteps = times.map { Double(Float($0)) }
        let maxSigma = sigmas.max() ?? 0
        initNoiseSigma = config.timestepSpacing == .leading ? (maxSigma * maxSigma + 1).squareRoot() : maxSigma
    }

    public func scaleModelInput(_ sample: [Float], step: Int) -> [Float] {
        let sigma = sigmas[step]
        let scale = (sigma * sigma + 1).squareRoot()
        return sample.map { $0 / scale }
    }

    /// x̂₀ from the model output at σ.
    private func predictedOriginal(_ modelOutput: [Float], sample: [Float], sigma: Float) -> [Float] {
        switch config.predictionType {
        case .epsilon:
            return (0 ..< sample.count).map { sample[$0] - sigma * modelOutput[$0] }
        case .vPrediction:
            let outputScale = -sigma / (sigma * sigma + 1).squareRoot()
            let sampleScale = sigma * sigma + 1
            return (0 ..< sample.count).map { modelOutput[$0] * outputScale + sample[$0] / sampleScale }
        }
    }

    public mutating func step(modelOutput: [Float], step: Int, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        let sigma = sigmas[step]
        let next = sigmas[step + 1]
        let original = predictedOriginal(modelOutput, sample: sample, sigma: sigma)
        guard config.kind == .eulerAncestral else {
            let dt = next - sigma
            return (0 ..< sample.count).map { sample[$0] + (sample[$0] - original[$0]) / sigma * dt }
        }
        let sigmaUp = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot()
        let sigmaDown = (next * next - sigmaUp * sigmaUp).squareRoot()
        let dt = sigmaDown - sigma
        let noise = generator.randn(count: sample.count)
        return (0 ..< sample.count).map {
            let stepped = sample[$0] + (sample[$0] - original[$0]) / sigma * dt
            return stepped + noise[$0] * sigmaUp
        }
    }

    public func addNoise(_ original: [Float], noise: [Float], step: Int) -> [Float] {
        let sigma = sigmas[step]
        return (0 ..< original.count).map { original[$0] + noise[$0] * sigma }
    }
}
