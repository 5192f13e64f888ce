/// ᾱ of the training schedule as DDIM and PNDM read it, `stride` training timesteps per inference
/// step: at a timestep, and "before" timestep 0 (`final_alpha_cumprod`: 1 with `set_alpha_to_one`, else ᾱ₀).
struct SteppedAlphas: Sendable {
    let table: [Float]
    let final: Float
    /// Training timesteps per inference step.
    let stride: Int

    init(_ config: SchedulerConfig, steps: Int) {
        table = NoiseSchedule(config).alphasCumprod
        final = config.setAlphaToOne ? 1 : table[0]
        stride = config.numTrainTimesteps / steps
    }

    /// ᾱₜ, or the final ᾱ for a timestep before 0.
    subscript(timestep: Int) -> Float { timestep >= 0 ? table[timestep] : final }

    /// √ᾱ·x + √(1 − ᾱ)·noise at `timestep`, as DDIM and PNDM noise an image.
    func addNoise(_ original: [Float], _ noise: [Float], timestep: Int) -> [Float] {
        let alpha = self[timestep]
        return Elementwise.combine(alpha.squareRoot(), original, (1 - alpha).squareRoot(), noise)
    }
}
