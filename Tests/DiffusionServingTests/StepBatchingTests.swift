import Cluster
import Diffusion
import DiffusionServing
import Foundation
import ServingAPI
import Testing

/// The step-level batching engine on the tiny SD 1.x folder: images that join and leave a running
/// batch at different steps come out exactly as each alone; cancelled and refused images leave nothing behind.
@Suite struct StepBatchingTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/diffusion/sd1-tiny")

    /// Every event of `stream`, the images by their index.
    static func images(_ stream: AsyncThrowingStream<ImageGenerationEvent, any Error>) async throws -> (progress: [Int: [Int]], images: [Int: GeneratedImage]) {
        var progress: [Int: [Int]] = [:], images: [Int: GeneratedImage] = [:]
        for try await event in stream {
            switch event {
            case let .progress(index, step, _, _, _): progress[index, default: []].append(step)
            case let .image(index, image, _): images[index] = image
            }
        }
        return (progress, images)
    }

    @Test func imagesJoiningAndLeavingAtDifferentStepsEqualEachAlone() async throws {
        let pipeline = try StableDiffusionPipeline(directory: Self.folder)
        let requests = [
            TextToImageRequest(prompt: "a red cube", negativePrompt: "blurry", steps: 8, guidanceScale: 7.5, scheduler: .eulerAncestral,
                               width: 64, height: 64, seed: 11),
            TextToImageRequest(prompt: "a blue sphere", steps: 3, guidanceScale: 1, scheduler: .dpmSolverMultistep, width: 64, height: 64, seed: 12),
            TextToImageRequest(prompt: "a green cone", steps: 5, guidanceScale: 4, scheduler: .pndm, width: 32, height: 48, seed: 13),
            TextToImageRequest(prompt: "a tree", steps: 4, guidanceScale: 6, scheduler: .ddim, width: 64, height: 64, seed: 14),
        ]
        let alone = try requests.map { try pipeline.generate($0) }

        let engine = DiffusionEngine(pipeline: pipeline, config: DiffusionEngineConfig(maxBatchSize: 3))
        // The first image runs alone for two steps; the others join while it runs, at its third step or later.
        var first = try engine.submit([requests[0]]).makeAsyncIterator()
        var firstSteps: [Int] = []
        while firstSteps.count < 2, case let .progress(_, step, _, _, _)? = try await first.next() { firstSteps.append(step) }
        let later = try engine.submit(Array(requests[1...]))
        async let rest = Self.images(later)
        var firstImage: GeneratedImage?
        while let event = try await first.next() {
            switch event {
            case let .progress(_, step, _, _, _): firstSteps.append(step)
            case let .image(_, image, _): firstImage = image
            }
        }
        let (progress, images) = try await rest
        #expect(firstSteps == Array(1 ... 8))
        #expect(progress[0] == Array(1 ... 3) && progress[1] == Array(1 ... 6) && progress[2] == Array(1 ... 4))
        let batched = [try #require(firstImage)] + (0 ..< 3).map { images[$0] }
        for (i, image) in batched.enumerated() {
            let image = try #require(image)
            #expect(image.latents == alone[i].latents, "image \(i): latents differ from the image generated alone")
            #expect(image.rgb8 == alone[i].rgb8, "image \(i): pixels differ from the image generated alone")
            #expect(image.width == alone[i].width && image.height == alone[i].height)
        }
        let statistics = engine.statistics()
        #expect(statistics.finishedImages == 4 && statistics.runningImages == 0 && statistics.waitingImages == 0)
        // Some UNet calls advanced several images at once (else nothing was batched).
        #expect(statistics.batchedSteps > statistics.batchedCalls)
        #expect(statistics.batchedSteps == 8 + 3 + 6 + 4)
    }

    @Test func aClientLeavingCancelsAtTheNextStep() async throws {
        let pipeline = try StableDiffusionPipeline(directory: Self.folder)
        let engine = DiffusionEngine(pipeline: pipeline)
        // The stream is dropped at once, its consumer gone: waiting for a first event first would let a
        // starved test task find all 100 steps done on a busy machine.
        _ = try engine.submit([TextToImageRequest(prompt: "x", steps: 100, width: 64, height: 64)])
        for _ in 0 ..< 500 where engine.statistics().runningImages > 0 { try await Task.sleep(for: .milliseconds(10)) }
        let statistics = engine.statistics()
        #expect(statistics.runningImages == 0 && statistics.cancelledImages == 1 && statistics.finishedImages == 0)
        #expect(statistics.batchedSteps < 100)
    }

    /// `pauseAtStep` holds the first image to reach it, with every running image, until it is
    /// cancelled: the cancellation lands at that step however fast the engine runs; later images pass.
    @Test func aPauseHoldsTheFirstImageAtItsStepUntilItIsCancelled() async throws {
        let pipeline = try StableDiffusionPipeline(directory: Self.folder)
        var config = DiffusionEngineConfig()
        config.pauseAtStep = 2
        let engine = DiffusionEngine(pipeline: pipeline, config: config)
        let request = TextToImageRequest(prompt: "x", steps: 6, scheduler: .ddim, width: 64, height: 64, seed: 1)
        let beside: AsyncThrowingStream<ImageGenerationEvent, any Error>
        do {
            var held = try engine.submit([request]).makeAsyncIterator()
            var steps: [Int] = []
            while steps.last != 2, case let .progress(_, step, _, _, _)? = try await held.next() { steps.append(step) }
            #expect(steps == [1, 2])
            // A second image waits with it: nothing advances while the first is held.
            beside = try engine.submit([TextToImageRequest(prompt: "y", steps: 3, scheduler: .ddim, width: 64, height: 64, seed: 2)])
            try await Task.sleep(for: .milliseconds(300))
            #expect(engine.statistics().batchedSteps == 2 && engine.statistics().runningImages == 1)
        }
        // The held image's client left: the loop goes on, and the other image runs to its end.
        let (besideProgress, besideImages) = try await Self.images(beside)
        #expect(besideProgress[0] == [1, 2, 3] && besideImages[0] != nil)
        let statistics = engine.statistics()
        #expect(statistics.cancelledImages == 1 && statistics.finishedImages == 1 && statistics.batchedSteps == 2 + 3)
        // The pause is spent: a later image passes its step.
        let (progress, images) = try await Self.images(try engine.submit([request]))
        #expect(progress[0] == Array(1 ... 6) && images[0] != nil)
    }

    @Test func fullQueuesAndBadRequestsAreRefused() async throws {
        let pipeline = try StableDiffusionPipeline(directory: Self.folder)
        let engine = DiffusionEngine(pipeline: pipeline, config: DiffusionEngineConfig(maxBatchSize: 1, maxQueuedImages: 1, maxSteps: 10))
        let request = TextToImageRequest(prompt: "x", steps: 10, width: 64, height: 64)
        var accepted: [AsyncThrowingStream<ImageGenerationEvent, any Error>] = []
        var refused = 0
        for _ in 0 ..< 3 {
            do { accepted.append(try engine.submit([request])) } catch let error {
                guard case let .overloaded(seconds) = error else { Issue.record("\(error)"); continue }
                #expect(seconds >= 1)
                refused += 1
            }
        }
        #expect(refused >= 1 && accepted.count >= 1)
        #expect(engine.statistics().rejectedGroups == refused)
        #expect(throws: ImageGenerationError.invalidRequest("this request asks for 2 images, more than the 1 this server queues at once", param: "n")) {
            try engine.submit([request, request])
        }
        var bad = request
        bad.steps = 11
        #expect(throws: ImageGenerationError.self) { try engine.submit([bad]) }
        bad = request
        bad.steps = 1
        bad.scheduler = .pndm   // PLMS cannot take one step (diffusers raises); refused before queueing, not a crash
        #expect(throws: ImageGenerationError.invalidRequest("num_inference_steps: the PNDM scheduler needs at least 2 steps, got 1", param: "num_inference_steps")) {
            try engine.submit([bad])
        }
        bad = request
        bad.width = 60
        #expect(throws: ImageGenerationError.invalidRequest("size: width and height must be positive multiples of 8, got 60×64", param: "size")) {
            try engine.submit([bad])
        }
        for stream in accepted { _ = try await Self.images(stream) }
        await engine.shutdown(gracePeriod: .seconds(1))
        #expect(throws: ImageGenerationError.shuttingDown) { try engine.submit([request]) }
    }
}
