import Cluster
import Diffusion
import DiffusionServing
import ServingAPI
import Testing

/// The engine admits images by their measured activation memory (``ImageMemory``): images wait
/// while the running ones and they would pass ``DiffusionEngineConfig/memoryBudgetBytes``, come out
/// as alone, and an image that alone needs more is refused; the prior bounds what images measure.
@Suite struct ImageMemoryTests {
    static func request(_ prompt: String, seed: UInt64, width: Int = 64, height: Int = 64) -> TextToImageRequest {
        TextToImageRequest(prompt: prompt, negativePrompt: "blurry", steps: 4, guidanceScale: 6, scheduler: .euler, width: width, height: height, seed: seed)
    }

    @Test func thePriorBoundsWhatEachPartMeasures() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let engine = DiffusionEngine(pipeline: pipeline)
        let sizes = [(64, 64), (48, 32), (128, 96)]
        for (height, width) in sizes {
            let prior = engine.memory.need(height: height, width: width)
            #expect(prior == engine.memory.prior(height: height, width: width) && prior.kept == 0)
            _ = try await StepBatchingTests.images(try engine.submit([Self.request("a cube", seed: 3, width: width, height: height)]))
            let measured = engine.memory.need(height: height, width: width)
            #expect(measured != prior, "\(width)x\(height) was not measured")
            #expect(measured.kept > 0 && measured.step > 0 && measured.vae > 0)
            #expect(measured.step <= prior.step && measured.vae <= prior.vae, "\(width)x\(height): measured \(measured), prior \(prior)")
        }
        // A larger image needs more of a UNet call and of a VAE pass; what it keeps is its text conditioning.
        let small = engine.memory.need(height: 48, width: 32), large = engine.memory.need(height: 128, width: 96)
        #expect(large.step > small.step && large.vae > small.vae && large.kept == small.kept, "\(small) \(large)")
    }

    @Test func imagesWaitForTheBudgetAndComeOutAsAlone() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let measuring = DiffusionEngine(pipeline: pipeline)
        _ = try await StepBatchingTests.images(try measuring.submit([Self.request("a cube", seed: 1)]))
        let need = measuring.memory.need(height: 64, width: 64)
        // Two images fit, three do not; the batch cap would take all four.
        let budget = ImageMemoryBudget.bytes(of: [need, need])
        #expect(ImageMemoryBudget.bytes(of: [need, need, need]) > budget)
        var config = DiffusionEngineConfig(maxBatchSize: 8)
        config.memoryBudgetBytes = budget
        let engine = DiffusionEngine(pipeline: pipeline, config: config, memory: measuring.memory)
        let requests = (0 ..< 4).map { Self.request("image \($0)", seed: UInt64(10 + $0)) }
        let images = try await StepBatchingTests.images(try engine.submit(requests.map { PipelineImageRequest($0) })).images
        // 16 steps, at most two images a call (all four would share four calls), the first two together.
        let statistics = engine.statistics()
        #expect(statistics.finishedImages == 4 && statistics.batchedSteps == 16)
        #expect(statistics.batchedCalls >= 8 && statistics.batchedCalls < 16, "\(statistics.batchedCalls) calls")
        #expect(statistics.memoryWaits == 2 && statistics.memoryBudgetBytes == budget && statistics.memoryNeededBytes == 0)
        for (i, request) in requests.enumerated() {
            let alone = try pipeline.generate(request)
            let image = try #require(images[i])
            #expect(image.latents == alone.latents && image.rgb8 == alone.rgb8, "image \(i)")
        }
    }

    @Test func anImageThatAloneNeedsMoreThanTheBudgetIsRefused() throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        var config = DiffusionEngineConfig()
        let engine = DiffusionEngine(pipeline: pipeline)
        config.memoryBudgetBytes = ImageMemoryBudget.bytes(of: [engine.memory.need(height: 64, width: 64)])
        let bounded = DiffusionEngine(pipeline: pipeline, config: config)
        // 64² fits exactly; 64×72 does not.
        _ = try bounded.submit([Self.request("fits", seed: 1)])
        do {
            _ = try bounded.submit([Self.request("too large", seed: 1, width: 72, height: 64)])
            Issue.record("a 72x64 image was accepted past the budget")
        } catch {
            guard case let .invalidRequest(message, param) = error else { Issue.record("\(error)"); return }
            #expect(param == "size" && message.contains("72x64 image needs about") && message.contains("--image-memory"))
        }
    }
}
