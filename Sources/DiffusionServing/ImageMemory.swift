import Cluster
import Diffusion
import Models
import Synchronization
import Tensor

/// What images need of the diffusion engine's activation memory
/// (``DiffusionEngineConfig/memoryBudgetBytes``), by output size: what an image keeps between its
/// steps (latents' maps, text conditioning, ControlNet conditions), its share of a UNet call's
/// peak, and the peak of a VAE pass (an init image's encoding or the decode). The engine measures
/// each with an ``ActivationSpan`` and keeps the largest seen per size; a size not yet seen is priced
/// from the model's widths (``prior(height:width:)``, an upper bound of what the fixtures and the
/// SD 1.5-shaped model measure: ImageMemoryTests, docs/benchmarks.md).
///
/// The engine admits images by these needs under ``ImageMemoryBudget``.
///
/// ```swift
/// let memory = ImageMemory(pipeline: pipeline)
/// let need = memory.need(height: 512, width: 512)
/// print(ImageMemoryBudget.bytes(of: [need, need]))   // two 512² images running
/// ```
public final class ImageMemory: Sendable {
    /// The parts measured so far at one size.
    private struct Measured {
        var kept: Int?
        var step: Int?
        var vae: Int?
    }

    private struct Size: Hashable {
        let height: Int
        let width: Int
    }

    /// Floats a UNet call holds per latent pixel of each CFG row, in units of its first block's
    /// width (skip connections at every level, the widest block's working set), and a VAE pass per
    /// image pixel in units of the decoder's full-resolution width.
    static let unetFloatsPerWidth = 32, vaeFloatsPerWidth = 8

    private let unet: UNet2DConditionModel
    private let vae: AutoencoderKL
    private let measured = Mutex<[Size: Measured]>([:])

    public init(pipeline: StableDiffusionPipeline) {
        unet = pipeline.unet
        vae = pipeline.vae
    }

    /// The needs of one `width` × `height` image: each part as measured at this size, else the prior's.
    public func need(height: Int, width: Int) -> ImageMemoryNeed {
        let seen = measured.withLock { $0[Size(height: height, width: width)] } ?? Measured()
        let prior = prior(height: height, width: width)
        return ImageMemoryNeed(kept: seen.kept ?? prior.kept, step: seen.step ?? prior.step, vae: seen.vae ?? prior.vae)
    }

    /// The needs of an image of this size before any is measured (``prior(unet:vae:height:width:rows:)``).
    public func prior(height: Int, width: Int) -> ImageMemoryNeed { Self.prior(unet: unet, vae: vae, height: height, width: width) }

    /// The needs of a `width` × `height` image of `rows` UNet rows (2: classifier-free guidance)
    /// before any is measured: the UNet's first width times ``unetFloatsPerWidth`` floats per
    /// latent pixel of each row, the decoder's full-resolution width times ``vaeFloatsPerWidth`` per
    /// pixel, nothing kept.
    public static func prior(unet: UNet2DConditionModel, vae: AutoencoderKL, height: Int, width: Int, rows: Int = 2) -> ImageMemoryNeed {
        let latentPixels = (height / vae.scaleFactor) * (width / vae.scaleFactor)
        let float = MemoryLayout<Float>.stride
        return ImageMemoryNeed(step: rows * latentPixels * unet.skipChannels[0] * unetFloatsPerWidth * float,
                               vae: height * width * vae.fullResolutionChannels * vaeFloatsPerWidth * float)
    }

    /// Records what an image of this size was measured to need (each part the largest seen).
    func record(height: Int, width: Int, kept: Int? = nil, step: Int? = nil, vae: Int? = nil) {
        measured.withLock { table in
            var seen = table[Size(height: height, width: width)] ?? Measured()
            func larger(_ a: Int?, _ b: Int?) -> Int? { b.map { max(a ?? 0, $0) } ?? a }
            seen.kept = larger(seen.kept, kept)
            seen.step = larger(seen.step, step)
            seen.vae = larger(seen.vae, vae)
            table[Size(height: height, width: width)] = seen
        }
    }
}
