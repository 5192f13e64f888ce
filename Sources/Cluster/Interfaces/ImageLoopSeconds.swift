/// Seconds an image worker's loop spent in each part of its work, summed over its iterations: what
/// a live diffusion engine measured (`image_loop_seconds_total{phase=…}`) or what a simulated image
/// worker was charged, phase by phase, so the two can be compared.
///
/// ```swift
/// var seconds = ImageLoopSeconds()
/// seconds.unet += 0.25
/// seconds.phases.map(\.name)   // ["admission", "lora_activation", "lora_merge", "unet", "decode"]
/// ```
public struct ImageLoopSeconds: Sendable, Hashable, Codable {
    /// Admitting images: text encoding, initial noise, ControlNet lookup and control-image preparation.
    public var admission = 0.0
    /// Putting due LoRAs into an image's conditioning: waiting for a late load, binding the files
    /// to the model, re-encoding the text through their text-encoder parts.
    public var loraActivation = 0.0
    /// Merging LoRAs into the UNet's weights and restoring them.
    public var loraMerge = 0.0
    /// Batched UNet calls with their rows' ControlNets (in-process, or the part a ControlNet
    /// service does not overlap) and unmerged LoRAs.
    public var unet = 0.0
    /// VAE decodes of finished images.
    public var decode = 0.0

    public init() {}

    /// Adds another loop's seconds phase by phase (a pool's workers summed).
    public static func += (total: inout ImageLoopSeconds, other: ImageLoopSeconds) {
        total.admission += other.admission
        total.loraActivation += other.loraActivation
        total.loraMerge += other.loraMerge
        total.unet += other.unet
        total.decode += other.decode
    }

    /// Each phase's name (the metric's `phase` label) and seconds.
    public var phases: [(name: String, seconds: Double)] {
        [("admission", admission), ("lora_activation", loraActivation), ("lora_merge", loraMerge), ("unet", unet), ("decode", decode)]
    }
}
