import Diffusion
import Foundation
import Tensor
import Testing

/// `StableDiffusionPipeline` against diffusers' on the tiny SD 1.x and 2.x folders: final latents
/// and the `output_type="np"` image (fixtures/diffusion/pipelines/, written by
/// scripts/fixtures/diffusion_references.py pipelines).
@Suite struct PipelineParityTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name, folder, prompt: String
        let scheduler, negativePrompt: String?
        let guidance: Float
        let seed: UInt64
        let steps, width, height: Int
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        guard let json = try? Fixtures.json("pipelines/cases.json"), let cases = json["cases"] as? [[String: Any]] else { return [] }
        return cases.map {
            Case(name: $0["name"] as! String, folder: $0["folder"] as! String, prompt: $0["prompt"] as! String,
                 scheduler: $0["scheduler"] as? String, negativePrompt: $0["negative_prompt"] as? String,
                 guidance: Float(($0["guidance_scale"] as! NSNumber).doubleValue), seed: ($0["seed"] as! NSNumber).uint64Value,
                 steps: $0["steps"] as! Int, width: $0["width"] as! Int, height: $0["height"] as! Int)
        }
    }()

    @Test func casesArePresent() { #expect(Self.cases.count >= 6) }

    @Test(arguments: cases)
    func matchesDiffusers(_ c: Case) throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent(c.folder))
        let request = TextToImageRequest(prompt: c.prompt, negativePrompt: c.negativePrompt, steps: c.steps, guidanceScale: c.guidance,
                                         scheduler: try c.scheduler.map { try #require(SchedulerKind(rawValue: $0)) },
                                         width: c.width, height: c.height, seed: c.seed)
        var steps: [Int] = []
        let result = try pipeline.generate(request) { step, _ in steps.append(step) }
        // One progress call per UNet step (PNDM's PLMS takes steps + 1).
        #expect(steps == Array(1 ... (try pipeline.scheduler(request.scheduler, steps: c.steps)).timesteps.count))
        let reference = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("pipelines/\(c.name).safetensors"))
        let latents = try reference.floats("latents")
        let image = try reference.floats("image")
        #expect(result.latentShape == (try reference.info("latents")).shape)
        let latentError = maxRelativeDifference(result.latents, latents)
        let imageError = maxAbsDifference(result.image, image)
        print("\(c.name): latents max rel error \(latentError), image max abs error \(imageError)")
        // Measured: latents ≤ 1e-4 relative, image ≤ 4e-5 absolute on every case.
        #expect(latentError < 1e-3)
        #expect(imageError < 1e-3)
    }

    @Test func givenLatentsReplaceTheDrawnNoise() throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sd1-tiny"))
        var request = TextToImageRequest(prompt: "a cat", steps: 2, scheduler: .ddim, width: 64, height: 64, seed: 5)
        var generator = TorchGenerator(seed: 5)
        let drawn = try pipeline.generate(request)
        request.initialLatents = generator.randn(count: drawn.latents.count)
        request.seed = 6
        let given = try pipeline.generate(request)
        #expect(given.latents == drawn.latents)
        request.initialLatents = [0, 1]
        #expect(throws: DiffusionError.self) { try pipeline.generate(request) }
    }

    @Test func badSizesAndFoldersAreClearErrors() throws {
        let pipeline = try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("sd1-tiny"))
        #expect(throws: DiffusionError.self) { try pipeline.generate(TextToImageRequest(prompt: "x", steps: 1, width: 60, height: 64)) }
        #expect(throws: DiffusionError.self) { try pipeline.generate(TextToImageRequest(prompt: "x", steps: 0, width: 64, height: 64)) }
        #expect(throws: DiffusionError.missingFile(Fixtures.diffusion.appendingPathComponent("nothing/model_index.json").path)) {
            try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent("nothing"))
        }
    }

    @Test func safetensorsWriterRoundTrips() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("writer-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(SafetensorsWriter.encode([("latents", [1, 2, 1, 2], [1, -2, 3.5, 4]), ("image", [3], [0, 0.5, 1])])).write(to: url)
        let file = try SafetensorsFile(url: url)
        #expect(try file.floats("latents") == [1, -2, 3.5, 4])
        #expect(try file.info("latents").shape == [1, 2, 1, 2])
        #expect(try file.floats("image") == [0, 0.5, 1])
    }
}
