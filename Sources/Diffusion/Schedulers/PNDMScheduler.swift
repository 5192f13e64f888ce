/// Pseudo numerical methods for diffusion models (Liu et al., 2022) with the Runge–Kutta warm-up
/// skipped (`skip_prk_steps`), as Stable Diffusion 1.x folders configure it: linear multistep
/// over the last four predictions. `diffusers`' `PNDMScheduler.step_plms`.
///
/// The second timestep repeats: the first two model calls share one step of the update.
public struct PNDMScheduler: DiffusionScheduler {
    public let config: SchedulerConfig
    public let timesteps: [Double]
    public let initNoiseSigma: Float = 1
    let alphas: SteppedAlphas
    /// Earlier predictions, newest last (at most four).
    private var history: [[Float]] = []
    private var counter = 0
    /// The sample the first call started from, reused by the second.
    private var firstSample: [Float]?

    init(_ config: SchedulerConfig, steps: Int) {
        self.config = config
        alphas = SteppedAlphas(config, steps: steps)
        // `_timesteps` ascending, then diffusers' plms order: all but the last, the second to last again, the last.
        let ascending = Array(integerTimesteps(config, steps: steps).reversed())
        let plms = Array(ascending.dropLast()) + ascending.suffix(2).prefix(1) + ascending.suffix(1)
        timesteps = plms.reversed().map(Double.init)
    }

    public func scaleModelInput(_ sample: [Float], step: Int) -> [Float] { sample }

    public mutating func step(modelOutput: [Float], step: Int, sample: [Float], generator: inout TorchGenerator) -> [Float] {
        var timestep = Int(timesteps[step])
        var previous = timestep - alphas.stride
        if counter != 1 {
            history = Array(history.suffix(3))
            history.append(modelOutput)
        } else {
            previous = timestep
            timestep += alphas.stride
        }
        var output: [Float]
        var input = sample
        let n = sample.count
        switch (history.count, counter) {
        case (1, 0):
            output = modelOutput
            firstSample = sample
        case (1, 1):
            output = (0 ..< n).map { (modelOutput[$0] + history[0][$0]) / 2 }
            input = firstSample ?? sample
            firstSample = nil
        case (2, _):
            let (e1, e2) = (history[1], history[0])
            output = (0 ..< n).map { (3 * e1[$0] - e2[$0]) / 2 }
        case (3, _):
            let (e1, e2, e3) = (history[2], history[1], history[0])
            output = (0 ..< n).map { (23 * e1[$0] - 16 * e2[$0] + 5 * e3[$0]) / 12 }
        default:
            let (e1, e2, e3, e4) = (history[3], history[2], history[1], history[0])
            let scale = Float(1.0 / 24.0)
            output = (0 ..< n).map { scale * (55 * e1[$0] - 59 * e2[$0] + 37 * e3[$0] - 9 * e4[$0]) }
        }
        counter += 1
        return previousSample(input, timestep: timestep, previous: previous, output: output)
    }

    private func previousSample(_ sample: [Float], timestep: Int, previous: Int, output: [Float]) -> [Float] {
        let alpha = alphas[timestep]
        let alphaPrevious = alphas[previous]
        let beta = 1 - alpha
        let betaPrevious = 1 - alphaPrevious
        var epsilon = output
        if config.predictionType == .vPrediction {
            epsilon = Elementwise.combine(alpha.squareRoot(), output, beta.squareRoot(), sample)
        }
        let sampleCoefficient = (alphaPrevious / alpha).squareRoot()
        let denominator = alpha * betaPrevious.squareRoot() + (alpha * beta * alphaPrevious).squareRoot()
        let difference = alphaPrevious - alpha
        return (0 ..< sample.count).map { sampleCoefficient * sample[$0] - difference * epsilon[$0] / denominator }
    }

    public func addNoise(_ original: [Float], noise: [Float], step: Int) -> [Float] {
        alphas.addNoise(original, noise, timestep: Int(timesteps[step]))
    }
}
