import Diffusion
import Foundation
import Tensor
import Testing

/// `StableDiffusionPipeline` against diffusers' on the tiny SD 1.x and 2.x folders: final latents
/// and the `output_type="np"` image (fixtures/diffusion/pipelines/, written by
/// scripts/fixtures/diffusion_references.py pipelines).
@Suite struct PipelineParityTests {
    static let cases = PipelineCase.load("pipelines/cases.json")

    @Test func casesArePresent() { #expect(Self.cases.count >= 6) }

    @Test(arguments: cases)
    func matchesDiffusers(_ c: PipelineCase) throws {
        let pipeline = try c.pipeline()
        let request = try c.request()
        var steps: [Int] = []
        let result = try pipeline.generate(request) { step, _ in steps.append(step) }
        // One progress call per UNet step (PNDM's PLMS takes steps + 1).
        #expect(steps == Array(1 ... (try pipeline.scheduler(request.scheduler, steps: c.steps)).timesteps.count))
        // Measured: latents ≤ 1e-4 relative, image ≤ 4e-5 absolute on every case.
        try c.expectMatchesReference(result)
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
