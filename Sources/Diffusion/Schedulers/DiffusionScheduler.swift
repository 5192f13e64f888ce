import Foundation

/// A sampler over a fixed list of timesteps, stepping latents (flat float32 arrays) the way the
/// `diffusers` scheduler of the same name does, operation for operation in float32.
///
/// Schedulers are values: a step returns the next latents and updates only the scheduler's own
/// history (multistep solvers), so a batch can hold one scheduler per request at its own step.
///
/// ```swift
/// var scheduler = try makeScheduler(config, steps: 20)
/// var latents = noise.map { $0 * scheduler.initNoiseSigma }
/// for index in scheduler.timesteps.indices {
///     let input = scheduler.scaleModelInput(latents, step: index)
///     let prediction = unet(input, scheduler.timesteps[index])
///     latents = scheduler.step(modelOutput: prediction, step: index, sample: latents, generator: &generator)
/// }
/// ```
public protocol DiffusionScheduler: Sendable {
    var config: SchedulerConfig { get }
    /// The timestep of each model call, as `scheduler.timesteps` (fractional for Karras Euler).
    var timesteps: [Double] { get }
    /// The standard deviation the initial noise is scaled by.
    var initNoiseSigma: Float { get }
    /// The model input for step `step` (Euler's division by √(σ² + 1); the identity otherwise).
    func scaleModelInput(_ sample: [Float], step: Int) -> [Float]
    /// The latents after step `step` given the model's prediction for `sample`.
    /// `generator` supplies ancestral noise (Euler ancestral draws every step).
    mutating func step(modelOutput: [Float], step: Int, sample: [Float], generator: inout TorchGenerator) -> [Float]
    /// Image latents noised to the level of step `step` (image-to-image).
    func addNoise(_ original: [Float], noise: [Float], step: Int) -> [Float]
}

/// The scheduler `config` names, with timesteps for `steps` inference steps.
public func makeScheduler(_ config: SchedulerConfig, steps: Int) throws(DiffusionError) -> any DiffusionScheduler {
    guard steps >= 1, steps <= config.numTrainTimesteps else {
        throw .invalidArgument("steps must be between 1 and \(config.numTrainTimesteps), got \(steps)")
    }
    switch config.kind {
    case .ddim: return DDIMScheduler(config, steps: steps)
    case .pndm:
        // PLMS's second step looks one stride past the first timestep: with one step that is past the schedule (diffusers raises IndexError).
        guard steps >= 2 else { throw .invalidArgument("the PNDM scheduler needs at least 2 steps, got \(steps)") }
        return PNDMScheduler(config, steps: steps)
    case .euler, .eulerAncestral: return EulerScheduler(config, steps: steps)
    case .dpmSolverMultistep: return DPMSolverMultistepScheduler(config, steps: steps)
    }
}

/// Element-wise helpers in the order torch evaluates them (one rounding per operation).
enum Elementwise {
    /// a·x + b·y
    static func combine(_ a: Float, _ x: [Float], _ b: Float, _ y: [Float]) -> [Float] {
        precondition(x.count == y.count, "latent sizes differ")
        return (0 ..< x.count).map { a * x[$0] + b * y[$0] }
    }
}

/// Integer timesteps with `leading`, `trailing` or `linspace` spacing (DDIM, PNDM).
func integerTimesteps(_ config: SchedulerConfig, steps: Int) -> [Int] {
    let train = config.numTrainTimesteps
    switch config.timestepSpacing {
    case .linspace:
        return NumPy.linspace(0, Double(train - 1), steps).map { Int(NumPy.round($0)) }.reversed()
    case .leading:
        let ratio = train / steps
        return (0 ..< steps).map { $0 * ratio + config.stepsOffset }.reversed()
    case .trailing:
        return NumPy.arange(Double(train), 0, -Double(train) / Double(steps)).map { Int(NumPy.round($0)) - 1 }
    }
}
