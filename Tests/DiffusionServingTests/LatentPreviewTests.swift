import Diffusion
import DiffusionServing
import Foundation
import ServingAPI
import Testing

/// Latent previews: ComfyUI's linear latent-to-RGB factors on channels-first latents, and the
/// engine's progress events carrying them every `previewInterval` steps.
@Suite struct LatentPreviewTests {
    /// One latent channel set, the rest zero, over a 2×1 latent; pixel 1 stays at zero.
    static func pixels(_ preview: LatentPreview, channel: Int, value: Float) -> [UInt8] {
        var latents = [Float](repeating: 0, count: 4 * 2)
        latents[channel * 2] = value
        return preview.image(latents, height: 1, width: 2).pixels
    }

    @Test func factorsMapEachChannelToRGB() throws {
        let sd = try #require(LatentPreview(latentChannels: 4, secondTextEncoder: false))
        // (0.3512, 0.2297, 0.3227) · 1, mapped from [-1, 1]: 172.3, 156.8, 168.6.
        #expect(Self.pixels(sd, channel: 0, value: 1) == [172, 157, 169, 128, 128, 128])
        // (-0.2120, -0.2616, -0.7177) · -2 = (0.424, 0.5232, 1.4354): blue clamps at 255.
        #expect(Self.pixels(sd, channel: 3, value: -2) == [182, 194, 255, 128, 128, 128])
        // SDXL adds its bias (0.1084, -0.0175, -0.0011) to zero latents.
        let xl = try #require(LatentPreview(latentChannels: 4, secondTextEncoder: true))
        #expect(Self.pixels(xl, channel: 1, value: 0) == [141, 125, 127, 141, 125, 127])
        #expect(LatentPreview(latentChannels: 16, secondTextEncoder: false) == nil)
    }

    @Test func progressCarriesThePreviewOfTheLatentsEveryInterval() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let engine = DiffusionEngine(pipeline: pipeline)
        let request = TextToImageRequest(prompt: "a red cube", steps: 4, guidanceScale: 5, scheduler: .ddim, width: 64, height: 48, seed: 3)
        var previews: [Int: (width: Int, height: Int, pixels: [UInt8])] = [:], steps: [Int] = []
        var image: GeneratedImage?
        for try await event in try engine.submit([PipelineImageRequest(request, previews: ImagePreviews(interval: 2))]) {
            switch event {
            case let .progress(_, step, _, _, preview):
                steps.append(step)
                if let preview { previews[step] = (preview.width, preview.height, preview.pixels) }
            case let .image(_, generated, _): image = generated
            }
        }
        // One pixel per latent pixel: the output size over the VAE's scale factor.
        let final = try #require(image)
        let (height, width) = (final.latentShape[2], final.latentShape[3])
        #expect(height == 48 / pipeline.vae.scaleFactor && width == 64 / pipeline.vae.scaleFactor)
        #expect(steps == [1, 2, 3, 4] && previews.keys.sorted() == [2, 4])
        #expect(previews.values.allSatisfy { $0.width == width && $0.height == height })
        // The last step's latents are the image's: its preview is theirs.
        let expected = try #require(LatentPreview(latentChannels: 4, secondTextEncoder: false)).image(final.latents, height: height, width: width)
        #expect(previews[4]?.pixels == expected.pixels)
        #expect(previews[2]?.pixels != expected.pixels)
        // Without an interval no event carries one, and the image is the same.
        var plain: GeneratedImage?
        for try await event in try engine.submit([PipelineImageRequest(request)]) {
            switch event {
            case let .progress(_, _, _, _, preview): #expect(preview == nil)
            case let .image(_, generated, _): plain = generated
            }
        }
        #expect(plain?.image == final.image)
        #expect(throws: ImageGenerationError.self) { try engine.submit([PipelineImageRequest(request, previews: ImagePreviews(interval: -1))]) }
        await engine.shutdown(gracePeriod: .seconds(1))
    }
}
