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
    struct Case: CustomTestStringConvertible, Sendable {
        let name, folder, prompt: String
        let scheduler, negativePrompt, image: String?
        let guidance: Float
        let seed: UInt64
        let steps, width, height: Int
        let strength: Double?
        var testDescription: String { name }

        func request() throws -> TextToImageRequest {
            var request = TextToImageRequest(prompt: prompt, negativePrompt: negativePrompt, steps: steps, guidanceScale: guidance,
                                             scheduler: try scheduler.map { try #require(SchedulerKind(rawValue: $0)) },
                                             width: width, height: height, seed: seed, strength: strength)
            if let image {
                request.initImage = try ImageDecoder.decode(contentsOf: Fixtures.diffusion.appendingPathComponent(image))
                // The img2img pipelines take the image's own size.
                (request.width, request.height) = (nil, nil)
            }
            return request
        }
    }

    static func cases(_ file: String) -> [Case] {
        guard let json = try? Fixtures.json(file), let cases = json["cases"] as? [[String: Any]] else { return [] }
        return cases.map {
            Case(name: $0["name"] as! String, folder: $0["folder"] as! String, prompt: $0["prompt"] as! String,
                 scheduler: $0["scheduler"] as? String, negativePrompt: $0["negative_prompt"] as? String, image: $0["image"] as? String,
                 guidance: Float(($0["guidance_scale"] as! NSNumber).doubleValue), seed: ($0["seed"] as! NSNumber).uint64Value,
                 steps: $0["steps"] as! Int, width: $0["width"] as! Int, height: $0["height"] as! Int,
                 strength: ($0["strength"] as? NSNumber)?.doubleValue)
        }
    }

    static let xlCases = cases("pipelines/xl-cases.json")
    static let imageToImageCases = cases("pipelines/img2img-cases.json")

    @Test func casesArePresent() {
        #expect(Self.xlCases.count >= 4)
        #expect(Self.imageToImageCases.count >= 7)
    }

    @Test(arguments: xlCases + imageToImageCases)
    func matchesDiffusers(_ c: Case) throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent(c.folder))
        let request = try c.request()
        var steps: [Int] = []
        let result = try pipeline.generate(request) { step, _ in steps.append(step) }
        let reference = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("pipelines/\(c.name).safetensors"))
        let latents = try reference.floats("latents")
        let image = try reference.floats("image")
        #expect(result.latentShape == (try reference.info("latents")).shape)
        #expect([result.height, result.width, 3] == (try reference.info("image")).shape)
        if let strength = c.strength {
            // diffusers' get_timesteps: ⌊steps·strength⌋ steps run.
            #expect(steps.count == min(Int(Double(c.steps) * strength), c.steps) + (c.scheduler == nil && c.folder == "sd1-tiny" ? 1 : 0))
        }
        let latentError = maxRelativeDifference(result.latents, latents)
        let imageError = maxAbsDifference(result.image, image)
        print("\(c.name): latents max rel error \(latentError), image max abs error \(imageError)")
        #expect(latentError < 1e-3)
        #expect(imageError < 1e-3)
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
