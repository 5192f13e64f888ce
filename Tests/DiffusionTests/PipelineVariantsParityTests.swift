import Diffusion
import Foundation
import Imaging
import Tensor
import Testing

/// `StableDiffusionPipeline` on the SDXL folder and in image-to-image mode against diffusers'
/// `StableDiffusionXLPipeline`, `StableDiffusionImg2ImgPipeline` and `StableDiffusionXLImg2ImgPipeline`
/// (fixtures/diffusion/pipelines/{xl,img2img}-cases.json, written by
/// scripts/fixtures/diffusion_references.py pipelines-xl and img2img).
@Suite struct PipelineVariantsParityTests {
    static let xlCases = PipelineCase.load("pipelines/xl-cases.json")
    static let imageToImageCases = PipelineCase.load("pipelines/img2img-cases.json")
    /// `prompt_2` / `negative_prompt_2` (pipelines-xl-prompt2).
    static let prompt2Cases = PipelineCase.load("pipelines/xl-prompt2-cases.json")

    @Test func casesArePresent() {
        #expect(Self.xlCases.count >= 4)
        #expect(Self.prompt2Cases.count >= 3)
        #expect(Self.prompt2Cases.contains { $0.prompt2 != nil && $0.negativePrompt2 != nil })
        #expect(Self.imageToImageCases.count >= 8)
    }

    @Test(arguments: xlCases + prompt2Cases + imageToImageCases)
    func matchesDiffusers(_ c: PipelineCase) throws {
        let pipeline = try c.pipeline()
        let request = try c.request()
        var steps: [Int] = []
        let result = try pipeline.generate(request) { step, _ in steps.append(step) }
        let scheduler = try pipeline.scheduler(request.scheduler, steps: c.steps)
        // diffusers' get_timesteps: the last ⌊steps·strength⌋ steps run (PNDM's PLMS one call more).
        let skipped = c.strength.map { c.steps - min(Int(Double(c.steps) * $0), c.steps) } ?? 0
        #expect(steps == Array(1 ... scheduler.timesteps.count - skipped))
        // Measured: latents ≤ 8.5e-5 relative, image ≤ 4.2e-5 absolute on every case.
        try c.expectMatchesReference(result)
    }

    /// The second encoder's texts matter: without them the image is far from diffusers'.
    @Test(arguments: prompt2Cases.filter { $0.prompt2 != nil })
    func secondPromptChangesTheImage(_ c: PipelineCase) throws {
        var request = try c.request()
        (request.prompt2, request.negativePrompt2) = (nil, nil)
        let result = try c.pipeline().generate(request)
        let reference = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("pipelines/\(c.name).safetensors"))
        #expect(maxAbsDifference(result.image, try reference.floats("image")) > 1e-2)
    }

    @Test func secondPromptsNeedSDXL() throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sd1-tiny"))
        for (prompt2, negative2) in [("a dog", nil), (nil, "blurry")] as [(String?, String?)] {
            let request = TextToImageRequest(prompt: "a cat", steps: 2, width: 64, height: 64, prompt2: prompt2, negativePrompt2: negative2)
            let error = #expect(throws: DiffusionError.self) { try pipeline.conditioning(request) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("prompt_2"))
        }
    }

    @Test func forceZerosGivesZeroNegativeConditioning() throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sdxl-tiny"))
        #expect(pipeline.forceZerosForEmptyPrompt)
        let zeros = try pipeline.conditioning(TextToImageRequest(prompt: "a cat", guidanceScale: 5, width: 64, height: 48))
        let negative = try #require(zeros.negativePrompt)
        #expect(negative.toArray().allSatisfy { $0 == 0 })
        #expect(try #require(zeros.textTime?.negativeTextEmbeds).allSatisfy { $0 == 0 })
        #expect(zeros.textTime?.timeIds == [48, 64, 0, 0, 48, 64])
        #expect(zeros.prompt.cols == pipeline.unet.crossAttentionDim)
        let empty = try pipeline.conditioning(TextToImageRequest(prompt: "a cat", negativePrompt: "", guidanceScale: 5))
        #expect(try #require(empty.negativePrompt).toArray().contains { $0 != 0 })
        let unguided = try pipeline.conditioning(TextToImageRequest(prompt: "a cat", guidanceScale: 1))
        #expect(unguided.negativePrompt == nil && unguided.textTime?.negativeTextEmbeds == nil)
    }

    @Test func imageToImageArgumentsAreChecked() throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sd1-tiny"))
        let image = try ImageDecoder.decode(contentsOf: Fixtures.diffusion.appendingPathComponent("pipelines/init-image.png"))
        var request = TextToImageRequest(prompt: "x", steps: 4, initImage: image, strength: 0.2)
        #expect(throws: DiffusionError.self) { try pipeline.generate(request) }  // ⌊4·0.2⌋ = 0 steps
        request.strength = 1.5
        #expect(throws: DiffusionError.self) { try pipeline.generate(request) }
        request.strength = 0.5
        request.initialLatents = [Float](repeating: 0, count: 4 * 32 * 32)
        #expect(throws: DiffusionError.self) { try pipeline.generate(request) }
        let noImage = TextToImageRequest(prompt: "x", steps: 1, width: 64, height: 64, strength: 0.5)
        #expect(throws: DiffusionError.self) { try pipeline.generate(noImage) }
        // Given a size, the image is resized to it (Pillow's Lanczos, as VaeImageProcessor).
        request.initialLatents = nil
        (request.width, request.height) = (32, 48)
        let prepared = try pipeline.prepare(request)
        #expect((prepared.width, prepared.height, prepared.firstStep) == (32, 48, 2))
        #expect(pipeline.preprocess(image, height: 64, width: 64).pixels.toArray().allSatisfy { $0 >= -1 && $0 <= 1 })
    }
}
