import Foundation
import Imaging
import Models
import Tensor

/// Image-to-image (SDEdit, Meng et al., 2022): the init image's latents noised to an intermediate
/// timestep, then denoised over the rest of the schedule, as diffusers'
/// `StableDiffusionImg2ImgPipeline` and `StableDiffusionXLImg2ImgPipeline` do it.
extension StableDiffusionPipeline {
    /// diffusers' default `strength` for `request`: 0.3 for SDXL without ControlNets
    /// (`StableDiffusionXLImg2ImgPipeline`), else 0.8 (the SD 1.x/2.x pipelines and both ControlNet
    /// image-to-image pipelines).
    public func defaultStrength(_ request: TextToImageRequest) -> Double {
        textEncoder2 != nil && request.controlNets.isEmpty ? 0.3 : 0.8
    }

    /// The init image as the VAE takes it (`VaeImageProcessor.preprocess`): resized to
    /// `width`×`height` with Pillow's Lanczos filter when it differs, then x/255·2 − 1.
    public func preprocess(_ image: RGBImage, height: Int, width: Int) -> FeatureMap {
        let sized = image.width == width && image.height == height ? image : image.resized(width: width, height: height, filter: .lanczos)
        let map = FeatureMap(height: height, width: width, channels: 3)
        for (i, byte) in sized.pixels.enumerated() { map.pixels.data[i] = 2 * (Float(byte) / 255) - 1 }
        return map
    }

    /// `get_timesteps` and `prepare_latents`: keep the last ⌊steps·strength⌋ steps, encode the
    /// image (a posterior sample drawn from the generator), scale it, and add the generator's next
    /// noise at the first kept timestep (`scheduler.add_noise`).
    func prepareImageToImage(_ state: inout PreparedGeneration, image: RGBImage, steps: Int, strength: Double) throws(DiffusionError) {
        guard strength >= 0, strength <= 1 else { throw .invalidArgument("strength must be in [0, 1], got \(strength)") }
        let kept = min(Int(Double(steps) * strength), steps)
        guard kept >= 1 else {
            throw .invalidArgument("strength \(strength) with \(steps) steps leaves no denoising step (steps × strength must be at least 1)")
        }
        // Every scheduler here has order 1: the first kept step's index is steps − kept.
        let first = steps - kept
        let posterior = vae.encode(preprocess(image, height: state.height, width: state.width))
        let count = posterior.mean.pixels.count
        let sampleNoise = state.generator.randn(count: count)
        let sample = sampleNoise.withUnsafeBufferPointer {
            posterior.sample(noise: FeatureMap(channelsFirst: $0.baseAddress!, channels: vae.latentChannels,
                                               height: state.latentHeight, width: state.latentWidth))
        }
        let scale = vae.scalingFactor
        let latents = sample.channelsFirst().map { scale * $0 }
        let noise = state.generator.randn(count: count)
        state.latents = state.scheduler.addNoise(latents, noise: noise, step: first)
        state.firstStep = first
    }
}
