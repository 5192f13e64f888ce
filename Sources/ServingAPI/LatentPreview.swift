import Imaging

/// A low-resolution preview of an image still denoising: its latents mapped to RGB by a linear
/// approximation, one pixel per latent pixel (1/8 of the output size on SD and SDXL), without the
/// VAE. The factors are those ComfyUI's latent previewer uses (`comfy/latent_formats.py`, `SD15`
/// and `SDXL` with its bias; fitted per model family by regressing decoded colours on latents),
/// applied to the latents the UNet sees (already times the VAE's scaling factor), then mapped from
/// [-1, 1] to 0…255 (clamped, rounded) as its `Latent2RGBPreviewer` does. A model with another latent channel count
/// gets no preview. Cheap next to a step: 4×3 multiply-adds per latent pixel.
///
/// ```swift
/// let preview = LatentPreview(latentChannels: 4, secondTextEncoder: false)
/// let rgb = preview?.image(latents, height: 8, width: 8)   // an 8×8 RGBImage of a 64×64 output
/// ```
public struct LatentPreview: Sendable {
    /// Per latent channel, its contribution to R, G and B.
    let factors: [[Float]]
    let bias: [Float]

    /// SD 1.x/2.x (ComfyUI `SD15`).
    static let sd = LatentPreview(factors: [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]],
                                  bias: [0, 0, 0])
    /// SDXL (ComfyUI `SDXL`).
    static let xl = LatentPreview(factors: [[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]],
                                  bias: [0.1084, -0.0175, -0.0011])

    init(factors: [[Float]], bias: [Float]) {
        self.factors = factors
        self.bias = bias
    }

    /// The approximation for a pipeline's latent space (SDXL's when it has a second text encoder);
    /// nil when its latents do not have the 4 channels the factors are for.
    public init?(latentChannels: Int, secondTextEncoder: Bool) {
        guard latentChannels == 4 else { return nil }
        self = secondTextEncoder ? .xl : .sd
    }

    /// The preview of `latents` (1×C×`height`×`width`, channels first).
    public func image(_ latents: [Float], height: Int, width: Int) -> RGBImage {
        let plane = height * width
        precondition(latents.count == factors.count * plane, "latents of \(latents.count) values are not \(factors.count)×\(height)×\(width)")
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        for p in 0 ..< plane {
            for c in 0 ..< 3 {
                var value = bias[c]
                for k in factors.indices { value += latents[k * plane + p] * factors[k][c] }
                pixels[p * 3 + c] = UInt8((min(max((value + 1) / 2, 0), 1) * 255).rounded())
            }
        }
        // Width and height are positive and the pixel count matches: the initializer cannot throw here.
        return try! RGBImage(width: width, height: height, pixels: pixels)
    }
}
