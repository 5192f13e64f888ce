import Cluster
import Diffusion
import Foundation
import Imaging
import Models
import ServingAPI
import Tensor
import Testing
@testable import DiffusionServing

/// Named add-ons in the step-batching engine on the tiny SD 1.x folder: registration and lookup,
/// LoRAs and ControlNets giving the pipeline's own image, mixed-LoRA batches (unmerged per row)
/// against one image at a time (merged), bounded asynchronous LoRA loading (the start step is
/// honoured, a late load makes the step wait), and pristine weights afterwards.
@Suite struct AddonServingTests {
    static let fixtures = StepBatchingTests.folder.deletingLastPathComponent()
    static let peft = fixtures.appendingPathComponent("loras/sd1-tiny-peft.safetensors").path
    static let kohya = fixtures.appendingPathComponent("loras/sd1-tiny-kohya.safetensors").path
    static let controlNet = fixtures.appendingPathComponent("controlnet-sd1-tiny").path

    static func registry() throws -> AdapterRegistry {
        try AdapterRegistry(loras: ["peft": peft, "kohya": kohya], controlNets: ["edges": controlNet])
    }

    static func controlImage() throws -> RGBImage {
        try ImageDecoder.decode(contentsOf: fixtures.appendingPathComponent("control-images/control-a.png"))
    }

    static func request(_ prompt: String, seed: UInt64, steps: Int = 4) -> TextToImageRequest {
        TextToImageRequest(prompt: prompt, negativePrompt: "blurry", steps: steps, guidanceScale: 6, scheduler: .ddim, width: 64, height: 64, seed: seed)
    }

    /// `image` as the pipeline makes it alone with the add-ons loaded directly (LoRAs merged, as `tessera generate-image`).
    static func alone(_ pipeline: StableDiffusionPipeline, _ image: PipelineImageRequest, loraStartStep: Int = 0,
                      mode: LoRAMode = .merged) throws -> GeneratedImage {
        var request = image.request
        request.loras = try image.loras.map {
            LoRARequest(file: try LoRAFile(url: URL(fileURLWithPath: $0.name == "peft" ? peft : kohya)), scale: $0.scale)
        }
        request.loraMode = mode
        request.loraStartStep = loraStartStep
        request.controlNets = try image.controlNets.map {
            ControlNetRequest(controlNet: try ControlNetModel(directory: URL(fileURLWithPath: controlNet)), image: $0.image,
                              scale: $0.scale, start: $0.start, end: $0.end)
        }
        return try pipeline.generate(request)
    }

    static func weights(_ pipeline: StableDiffusionPipeline) -> [[UInt32]] {
        pipeline.unet.parameters.names.map { pipeline.unet.parameters.parameter($0)!.values().map(\.bitPattern) }
    }

    @Test func registrationScansAFolderAndRefusesDuplicatesAndStrangers() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("adapters-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(atPath: Self.peft, toPath: folder.appendingPathComponent("water.safetensors").path)
        try FileManager.default.copyItem(atPath: Self.controlNet, toPath: folder.appendingPathComponent("depth").path)
        try Data("not a model".utf8).write(to: folder.appendingPathComponent("notes.txt"))
        let registry = try AdapterRegistry(loras: ["peft": Self.peft], controlNets: [:], directories: [folder.path])
        #expect(registry.entries.map { "\($0.kind.rawValue):\($0.name)" } == ["lora:peft", "lora:water", "controlnet:depth"])
        #expect(registry.entry(.lora, named: "depth") == nil && registry.entry(.controlNet, named: "depth") != nil)
        #expect(throws: DiffusionError.self) { try AdapterRegistry(loras: ["water": Self.kohya], controlNets: [:], directories: [folder.path]) }
        #expect(throws: DiffusionError.self) { try AdapterRegistry(loras: ["x": folder.appendingPathComponent("notes.txt").path], controlNets: [:]) }
        #expect(throws: DiffusionError.self) { try AdapterRegistry(loras: [:], controlNets: ["x": folder.path]) }
    }

    @Test func unknownNamesAndBadValuesAreRefusedAtSubmission() throws {
        let engine = DiffusionEngine(pipeline: try StableDiffusionPipeline(directory: StepBatchingTests.folder), registry: try Self.registry())
        let base = Self.request("x", seed: 1)
        func refusal(_ image: PipelineImageRequest) -> ImageGenerationError? {
            do { _ = try engine.submit([image]) } catch { return error }
            return nil
        }
        #expect(refusal(PipelineImageRequest(base, loras: [LoRAUse(name: "nope")])) == .adapterNotFound(
            "no LoRA named 'nope' is registered on this server (GET /v1/adapters lists them)", param: "loras[0].name"))
        #expect(refusal(PipelineImageRequest(base, controlNets: [ControlNetUse(name: "peft", image: try Self.controlImage())]))
            == .adapterNotFound("no ControlNet named 'peft' is registered on this server (GET /v1/adapters lists them)", param: "controlnets[0].name"))
        if case .invalidRequest(_, "loras[0].scale")? = refusal(PipelineImageRequest(base, loras: [LoRAUse(name: "peft", scale: .nan)])) {} else {
            Issue.record("a NaN LoRA scale was not refused")
        }
        if case .invalidRequest(_, "loras")? = refusal(PipelineImageRequest(base, loras: [LoRAUse(name: "peft"), LoRAUse(name: "peft")])) {} else {
            Issue.record("a LoRA named twice was not refused")
        }
        if case .invalidRequest(_, "controlnets[0]")? = refusal(PipelineImageRequest(base, controlNets: [
            ControlNetUse(name: "edges", image: try Self.controlImage(), start: 0.6, end: 0.5),
        ])) {} else {
            Issue.record("start after end was not refused")
        }
        for (prompt2, negative2, field) in [("y", nil, "prompt_2"), (nil, "z", "negative_prompt_2")] as [(String?, String?, String)] {
            var request = base
            (request.prompt2, request.negativePrompt2) = (prompt2, negative2)
            if case .invalidRequest(_, field)? = refusal(PipelineImageRequest(request)) {} else { Issue.record("\(field) on SD 1.x was not refused") }
        }
        #expect(engine.statistics().waitingImages == 0)
    }

    @Test func namedAddOnsGiveThePipelinesImageAndLeavePristineWeights() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let pristine = Self.weights(pipeline)
        let engine = DiffusionEngine(pipeline: pipeline, registry: try Self.registry())
        let image = PipelineImageRequest(Self.request("a watercolor fox", seed: 5), loras: [LoRAUse(name: "peft", scale: 0.8), LoRAUse(name: "kohya", scale: 0.5)],
                                 controlNets: [ControlNetUse(name: "edges", image: try Self.controlImage(), scale: 0.7, start: 0, end: 0.75)])
        let served = try #require(try await StepBatchingTests.images(try engine.submit([image])).images[0])
        #expect(Self.weights(pipeline) == pristine, "the merged LoRAs were not restored bit for bit")
        let expected = try Self.alone(pipeline, image)
        #expect(served.latents == expected.latents && served.rgb8 == expected.rgb8)
        var plain = image
        plain.loras = []
        #expect(try Self.alone(pipeline, plain).rgb8 != served.rgb8, "the LoRAs changed nothing")
        let statistics = engine.statistics()
        #expect(statistics.mergedLoRACalls == 4 && statistics.unmergedLoRACalls == 0)
        #expect(statistics.loraCache.misses == 2 && statistics.controlNetCache.misses == 1)
        // The loop's time by phase (image_loop_seconds_total): every phase this image went through took some.
        #expect(statistics.loopSeconds.phases.allSatisfy { $0.seconds > 0 }, "\(statistics.loopSeconds)")
        // Again: everything from the cache. The ControlNet's seconds are then its runs alone, computed
        // while the UNet waits for its residuals: a real share of the steps (it runs on 3 of 4).
        var timing: ImageTiming?
        for try await event in try engine.submit([image]) { if case let .image(_, _, times) = event { timing = times } }
        #expect(engine.statistics().loraCache.hits == 2 && engine.statistics().controlNetCache.hits == 1)
        let times = try #require(timing)
        #expect(times.controlNetSeconds > 0.05 * times.secondsPerStep * 4, "\(times)")
    }

    @Test func aMixedLoRABatchGivesEachImageAsAlone() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let pristine = Self.weights(pipeline)
        let images = [
            PipelineImageRequest(Self.request("a red cube", seed: 11), loras: [LoRAUse(name: "peft", scale: 0.9)]),
            PipelineImageRequest(Self.request("a blue sphere", seed: 12), loras: [LoRAUse(name: "kohya", scale: 1)]),
            PipelineImageRequest(Self.request("a green cone", seed: 13)),
        ]
        let engine = DiffusionEngine(pipeline: pipeline, config: DiffusionEngineConfig(maxBatchSize: 3, stepBatcher: MixedLoRAStepBatch()),
                                     registry: try Self.registry())
        let batched = try await StepBatchingTests.images(try engine.submit(images)).images
        #expect(Self.weights(pipeline) == pristine)
        let statistics = engine.statistics()
        // All three rode together (unmerged, per row) for every step.
        #expect(statistics.batchedCalls == 4 && statistics.unmergedLoRACalls == 4 && statistics.mergedLoRACalls == 0)
        for (i, image) in images.enumerated() {
            let result = try #require(batched[i])
            // Exactly as alone on the same (unmerged) arithmetic; as alone with merged weights up to rounding.
            #expect(result.latents == (try Self.alone(pipeline, image, mode: .unmerged)).latents, "image \(i)")
            let merged = try Self.alone(pipeline, image)
            let gap = zip(result.latents, merged.latents).map { abs($0 - $1) }.max()!
            #expect(gap < 5e-4, "image \(i): \(gap) from the merged image")
            #expect(zip(result.rgb8, merged.rgb8).allSatisfy { abs(Int($0) - Int($1)) <= 1 }, "image \(i)")
        }
    }

    /// SDXL ControlNets (`StableDiffusionXLControlNetPipeline`: the ControlNet takes the rows'
    /// pooled text embeddings and time ids) and `prompt_2` / `negative_prompt_2`, batched with an
    /// SDXL image without them: each as the pipeline makes it alone, which AddonParityTests and
    /// PipelineVariantsParityTests hold to diffusers.
    @Test func sdxlControlNetsAndSecondPromptsInABatchGiveThePipelinesImage() async throws {
        let folder = Self.fixtures.appendingPathComponent("sdxl-tiny")
        let controlNet = Self.fixtures.appendingPathComponent("controlnet-sdxl-tiny")
        let pipeline = try StableDiffusionPipeline(directory: folder)
        let controlB = try ImageDecoder.decode(contentsOf: Self.fixtures.appendingPathComponent("control-images/control-b.png"))
        let images = [
            PipelineImageRequest(TextToImageRequest(prompt: "a house by a lake", negativePrompt: "fog", steps: 4, guidanceScale: 6, scheduler: .ddim,
                                            width: 64, height: 64, seed: 44, prompt2: "an oil painting", negativePrompt2: "blurry"),
                         controlNets: [ControlNetUse(name: "xl-edges", image: try Self.controlImage(), scale: 0.7, start: 0, end: 0.6),
                                       ControlNetUse(name: "xl-edges", image: controlB, scale: 0.5, start: 0.25, end: 1)]),
            PipelineImageRequest(TextToImageRequest(prompt: "a boat", steps: 3, guidanceScale: 5, scheduler: .euler, width: 64, height: 64, seed: 45)),
        ]
        let registry = try AdapterRegistry(loras: [:], controlNets: ["xl-edges": controlNet.path])
        let engine = DiffusionEngine(pipeline: pipeline, config: DiffusionEngineConfig(maxBatchSize: 2), registry: registry)
        let served = try await StepBatchingTests.images(try engine.submit(images)).images
        #expect(engine.statistics().batchedCalls == 4 && engine.statistics().batchedSteps == 7, "the two images did not ride together")
        let model = try ControlNetModel(directory: controlNet)
        for (i, image) in images.enumerated() {
            var request = image.request
            request.controlNets = image.controlNets.map {
                ControlNetRequest(controlNet: model, image: $0.image, scale: $0.scale, start: $0.start, end: $0.end)
            }
            let expected = try pipeline.generate(request)
            let result = try #require(served[i])
            #expect(result.latents == expected.latents && result.rgb8 == expected.rgb8, "image \(i)")
        }
        #expect(try pipeline.generate(images[0].request).rgb8 != served[0]?.rgb8, "the ControlNets changed nothing")
        var firstTexts = images[0].request
        (firstTexts.prompt2, firstTexts.negativePrompt2) = (nil, nil)
        firstTexts.controlNets = [ControlNetRequest(controlNet: model, image: try Self.controlImage(), scale: 0.7, start: 0, end: 0.6),
                                  ControlNetRequest(controlNet: model, image: controlB, scale: 0.5, start: 0.25, end: 1)]
        #expect(try pipeline.generate(firstTexts).rgb8 != served[0]?.rgb8, "prompt_2 and negative_prompt_2 changed nothing")
    }

    @Test func loRAsJoinAtTheStartStepAndALateLoadMakesTheStepWait() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let pristine = Self.weights(pipeline)
        let registry = try Self.registry()
        let engine = DiffusionEngine(pipeline: pipeline, config: DiffusionEngineConfig(loraStartStep: 2), registry: registry)
        let image = PipelineImageRequest(Self.request("a lighthouse", seed: 21, steps: 5), loras: [LoRAUse(name: "peft", scale: 1)])
        registry.pauseLoading()
        var events = try engine.submit([image]).makeAsyncIterator()
        var steps: [Int] = []
        while steps.count < 2, case let .progress(_, step, _, _, _)? = try await events.next() { steps.append(step) }
        #expect(steps == [1, 2], "the first two steps run on the base weights while the LoRA loads")
        // Step 3 is due with the LoRA, which cannot load: the image waits there.
        try await Task.sleep(for: .milliseconds(400))
        #expect(engine.statistics().batchedSteps == 2)
        registry.resumeLoading()
        var served: GeneratedImage?, timing: ImageTiming?
        while let event = try await events.next() {
            switch event {
            case let .progress(_, step, _, _, _): steps.append(step)
            case let .image(_, result, times): (served, timing) = (result, times)
            }
        }
        #expect(steps == Array(1 ... 5))
        #expect(try #require(timing).loraWaitSeconds >= 0.3)
        #expect(Self.weights(pipeline) == pristine)
        let expected = try Self.alone(pipeline, image, loraStartStep: 2)
        #expect(try #require(served).latents == expected.latents)
        // The start step matters: from step 0 the image differs.
        #expect(try Self.alone(pipeline, image).latents != expected.latents)
    }

    /// A CFG-split peer in this process: another pipeline on the same folder, counting the rows it ran
    /// (a worker's peer goes through ``DiffusionEngine/predictGuestNoise(_:)``).
    final class PeerPipeline: GuidancePeer, @unchecked Sendable {
        let pipeline: StableDiffusionPipeline
        private let lock = NSLock()
        private var served: [GuidanceRow] = []

        init(_ pipeline: StableDiffusionPipeline) { self.pipeline = pipeline }

        var rows: [GuidanceRow] { lock.withLock { served } }

        func predictNoise(_ rows: [GuidanceRow]) throws(DiffusionError) -> @Sendable () throws(DiffusionError) -> [FeatureMap] {
            let predictions = try pipeline.predictNoise(rows)
            lock.withLock { served += rows }
            // One image at a time here: its last row leaves the weights pristine.
            if rows.contains(where: \.isLast) { pipeline.mergeLoRAs(nil) }
            return { predictions }
        }

        func release() { pipeline.mergeLoRAs(nil) }
    }

    /// The CFG split with add-ons: every image's unconditional row runs on the peer with its LoRAs
    /// (unmerged in a batch that mixes them, merged when the batch shares them, from the start step
    /// on) and its own ControlNet residuals. Each image equals the one made alone in one place, and
    /// both pipelines end with pristine weights.
    @Test func aCFGSplitPeerRunsTheRowsWithTheirAddOns() async throws {
        let pipeline = try StableDiffusionPipeline(directory: StepBatchingTests.folder)
        let peer = PeerPipeline(try StableDiffusionPipeline(directory: StepBatchingTests.folder))
        let pristine = Self.weights(pipeline)
        let engine = DiffusionEngine(pipeline: pipeline, config: DiffusionEngineConfig(maxBatchSize: 3, loraStartStep: 1, stepBatcher: MixedLoRAStepBatch()),
                                     registry: try Self.registry())
        let control = try Self.controlImage()
        func split(_ image: PipelineImageRequest) -> PipelineImageRequest {
            var image = image
            image.request.guidancePeer = peer
            return image
        }
        let mixed = [
            PipelineImageRequest(Self.request("a red cube", seed: 11), loras: [LoRAUse(name: "peft", scale: 0.9)],
                         controlNets: [ControlNetUse(name: "edges", image: control, scale: 0.7, start: 0, end: 0.75)]),
            PipelineImageRequest(Self.request("a blue sphere", seed: 12), loras: [LoRAUse(name: "kohya", scale: 1)]),
            PipelineImageRequest(Self.request("a green cone", seed: 13), controlNets: [ControlNetUse(name: "edges", image: control, scale: 0.5)]),
        ]
        let batched = try await StepBatchingTests.images(try engine.submit(mixed.map(split))).images
        #expect(engine.statistics().unmergedLoRACalls == 3 && engine.statistics().mergedLoRACalls == 0)
        for (i, image) in mixed.enumerated() {
            #expect(try #require(batched[i]).latents == (try Self.alone(pipeline, image, loraStartStep: 1, mode: .unmerged)).latents, "image \(i)")
        }
        // Four steps of three images, every unconditional row on the peer, with its residuals inside the ControlNet windows.
        #expect(peer.rows.count == 12)
        #expect(peer.rows.filter { $0.residuals != nil }.count == 3 + 4)
        #expect(peer.rows.filter { !$0.input.adapters.isEmpty }.count == 2 * 3)
        // Alone, the image's LoRAs are merged on both pipelines from the start step on.
        let both = PipelineImageRequest(Self.request("a lighthouse", seed: 21), loras: [LoRAUse(name: "peft", scale: 0.8), LoRAUse(name: "kohya", scale: 0.5)],
                                controlNets: [ControlNetUse(name: "edges", image: control, scale: 0.9)])
        let served = try await StepBatchingTests.images(try engine.submit([split(both)])).images
        #expect(try #require(served[0]).latents == (try Self.alone(pipeline, both, loraStartStep: 1)).latents)
        #expect(peer.rows.suffix(4).map { $0.merge != nil } == [false, true, true, true])
        #expect(try Self.alone(pipeline, PipelineImageRequest(both.request, controlNets: both.controlNets)).latents != served[0]?.latents)
        #expect(Self.weights(pipeline) == pristine)
        #expect(Self.weights(peer.pipeline) == pristine)
    }

    @Test func aControlNetOverTheBudgetIsLoadedOnceForTheImagesHoldingIt() throws {
        let registry = try AdapterRegistry(loras: [:], controlNets: ["edges": Self.controlNet], cacheBytes: 1)
        do {
            let held = try registry.controlNet("edges")
            let again = try registry.controlNet("edges")
            #expect(held.loadSeconds > 0 && !registry.cache.contains(.controlNet, name: "edges"))
            #expect(again.model === held.model && again.loadSeconds == 0, "a running image's ControlNet was loaded a second time")
        }
        // Once no image holds it, the next one loads it again (the budget keeps nothing).
        #expect(try registry.controlNet("edges").loadSeconds > 0)
    }

    @Test func theCacheKeepsTheMostRecentlyUsedWithinItsBudget() throws {
        let files = try [Self.peft, Self.kohya].map { try LoRAFile(url: URL(fileURLWithPath: $0)) }
        let cache = AdapterCache(budgetBytes: max(files[0].byteCount, files[1].byteCount) + 16)
        cache.insert(.lora(files[0]), bytes: files[0].byteCount, kind: .lora, name: "a")
        #expect(cache.value(for: .lora, name: "a") != nil)
        cache.insert(.lora(files[1]), bytes: files[1].byteCount, kind: .lora, name: "b")
        #expect(!cache.contains(.lora, name: "a") && cache.contains(.lora, name: "b"))
        #expect(cache.value(for: .lora, name: "a") == nil)
        #expect(cache.counters[.lora] == AdapterCacheCounters(hits: 1, misses: 1))
        #expect(cache.usedBytes == files[1].byteCount)
    }

    /// "a" is used three times, then "b" once (the more recent): a third add-on evicts "a" by
    /// recency and "b" by frequency.
    @Test(arguments: [(AdapterCache.Eviction.lru, "b"), (.lfu, "a")])
    func theEvictionPolicyChoosesWhichStays(eviction: AdapterCache.Eviction, kept: String) throws {
        let file = try LoRAFile(url: URL(fileURLWithPath: Self.peft))
        let cache = AdapterCache(budgetBytes: 2 * file.byteCount + 16, eviction: eviction)
        cache.insert(.lora(file), bytes: file.byteCount, kind: .lora, name: "a")
        for _ in 0 ..< 2 { _ = cache.value(for: .lora, name: "a") }
        cache.insert(.lora(file), bytes: file.byteCount, kind: .lora, name: "b")
        cache.insert(.lora(file), bytes: file.byteCount, kind: .lora, name: "c")
        #expect(cache.names(.lora) == [kept, "c"].sorted())
    }
}
