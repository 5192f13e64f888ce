/// Denoising diffusion implicit models (Song et al., 2021), deterministic (η = 0) as the
/// Stable Diffusion pipelines run it: `diffusers`' `DDIMScheduler`.
public struct DDIMScheduler: DiffusionScheduler {
    public let config: SchedulerConfig
    public let timesteps: [Double]
    public let initNoiseSigma: Float = 1
    let alphas: SteppedAlphas

    init(_ config: SchedulerConfig, steps: Int) {
        self.config = config
        alphas = SteppedAlphas(config, steps: steps)
        timesteps = integerTimesteps(config, steps: steps).map(Double.init)
    }

    public func scaleModelInput(_ sample: [Float], step: Int) -> [Float] { sample }

    public mutating func step(modelOutput: [Float], step: Int, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        let t = Int(timesteps[step])
        let alpha = alphas[t]
        let alphaPrevious = alphas[t - alphas.stride]
        let beta = 1 - alpha
        let sqrtAlpha = alpha.squareRoot()
        let sqrtBeta = beta.squareRoot()
        var original: [Float]
        let epsilon: [Float]
        switch config.predictionType {
        case .epsilon:
            original = (0 ..< sample.count).map { (sample[$0] - sqrtBeta * modelOutput[$0]) / sqrtAlpha }
            epsilon = modelOutput
        case .vPrediction:
            original = (0 ..< sample.count).map { sqrtAlpha * sample[$0] - sqrtBeta * modelOutput[$0] }
            epsilon = (0 ..< sample.count).map { sqrtAlpha * modelOutput[$0] + sqrtBeta * sample[$0] }
        }
        if config.clipSample {
            let range = Float(config.clipSampleRange)
            original = original.map { min(max($0, -range), range) }
        }
        let direction = (1 - alphaPrevious).squareRoot()
        let sqrtAlphaPrevious = alphaPrevious.squareRoot()
        return (0 ..< sample.count).map { sqrtAlphaPrevious * original[$0] + direction * epsilon[$0] }
    }

    public func addNoise(_ original: [Float], noise: [Float], step: Int) -> [Float] {
        alphas.addNoise(original, noise, timestep: Int(timesteps[step]))
    }
}
