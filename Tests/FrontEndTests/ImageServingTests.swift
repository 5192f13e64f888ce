import Cluster
import Diffusion
import DiffusionServing
import Foundation
import FrontEnd
import Imaging
import Models
import ServingAPI
import TestFixtures
import Testing
import WireProtocol
import Workers

/// Diffusion workers as the `image` pool of a topology: images generated through worker processes
/// (one worker, several at once, and with the CFG split across two workers, with and without
/// add-ons) equal the single-process pipeline's for the same seed, and language-model requests
/// are served beside them.
@Suite(.serialized) struct ImageServingTests {
    static let folder = Support.repository.appendingPathComponent("fixtures/diffusion/sd1-tiny")

    static func frontEnd(_ yaml: String) async throws -> ClusterFrontEnd {
        try await Support.frontEnd(yaml) { options in
            options.imageModelDirectory = folder
            options.imageWorkerArguments = ["--max-image-batch", "4"]
        }
    }

    /// Every image of the stream by index, and the progress steps of each.
    static func collect(_ stream: AsyncThrowingStream<ImageGenerationEvent, any Error>) async throws -> (images: [Int: GeneratedImage], steps: [Int: [Int]]) {
        var images: [Int: GeneratedImage] = [:], steps: [Int: [Int]] = [:]
        for try await event in stream {
            switch event {
            case let .progress(index, step, _, _, _): steps[index, default: []].append(step)
            case let .image(index, image, _): images[index] = image
            }
        }
        return (images, steps)
    }

    static let requests = [
        TextToImageRequest(prompt: "a red cube", negativePrompt: "blurry", steps: 4, guidanceScale: 7.5, scheduler: .eulerAncestral,
                           width: 64, height: 64, seed: 11),
        TextToImageRequest(prompt: "a blue sphere", steps: 3, guidanceScale: 1, scheduler: .dpmSolverMultistep, width: 64, height: 64, seed: 12),
        TextToImageRequest(prompt: "a green cone", steps: 5, guidanceScale: 4, scheduler: .pndm, width: 32, height: 48, seed: 13),
    ]

    /// Each request generated alone in this process, with the steps its progress reported.
    static func alone(_ requests: [TextToImageRequest]) throws -> (images: [GeneratedImage], steps: [[Int]]) {
        let pipeline = try StableDiffusionPipeline(directory: folder)
        var steps: [[Int]] = []
        let images = try requests.map { request in
            var reported: [Int] = []
            defer { steps.append(reported) }
            return try pipeline.generate(request) { step, _ in reported.append(step) }
        }
        return (images, steps)
    }

    static func expectSame(_ served: [Int: GeneratedImage], as alone: [GeneratedImage]) throws {
        for (i, expected) in alone.enumerated() {
            let image = try #require(served[i])
            #expect(image.width == expected.width && image.height == expected.height)
            #expect(image.latents == expected.latents, "image \(i): latents differ")
            #expect(image.rgb8 == expected.rgb8, "image \(i): pixels differ")
        }
    }

    @Test func imagesThroughWorkersEqualTheSingleProcessPipeline() async throws {
        let (alone, aloneSteps) = try Self.alone(Self.requests)
        let frontEnd = try await Self.frontEnd("""
            groups:
              - group: text
                workers: [{role: mono, count: 1}]
              - group: image
                workers: [{role: image, count: 2}]
            """)
        let images = ClusterImageService(frontEnd: frontEnd)
        #expect(images.defaultSize == (try StableDiffusionPipeline(directory: Self.folder).defaultSize))
        // Language-model requests are served beside the images, by their own pool.
        async let text = Fixtures.collect(try frontEnd.submit(.init(prompt: .tokens(Support.prompts[0]), parameters: Fixtures.greedy(4))))
        let (served, steps) = try await Self.collect(try images.submit(Self.requests))
        try Self.expectSame(served, as: alone)
        #expect((0 ..< 3).map { steps[$0] ?? [] } == aloneSteps)
        #expect(try await text.ids == Support.singleProcess([Support.prompts[0]], tokens: 4)[0])
        // Both image workers served (least-loaded routing spreads the three images).
        let counted = await Fixtures.eventually { images.statistics().finishedImages == 3 }
        #expect(counted)
        // The workers' loop seconds by phase reach the front end (`image_loop_seconds_total` under a topology).
        let loop = images.statistics().loopSeconds
        #expect(loop.admission > 0 && loop.unet > 0 && loop.decode > 0 && loop.loraMerge == 0)
        let perWorker = frontEnd.clusterStatus().filter { $0.group == .image }
        #expect(perWorker.count == 2)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// A text pool and an image pool of two image workers (and a `controlnet` worker) under a CFG split.
    static func cfgSplit(controlNetWorker: Bool = false) -> String {
        """
        groups:
          - group: text
            workers: [{role: mono, count: 1}]
          - group: image
            cfg_split: true
            workers: [{role: image, count: 2}\(controlNetWorker ? ", {role: controlnet, count: 1}" : "")]
        """
    }

    @Test func cfgSplitAcrossTwoWorkersGivesTheSameImage() async throws {
        let guided = [Self.requests[0], Self.requests[2]]
        let (alone, steps) = try Self.alone(guided)
        let frontEnd = try await Self.frontEnd(Self.cfgSplit())
        #expect(frontEnd.guidanceRowsServed == 0)
        let (served, _) = try await Self.collect(try ClusterImageService(frontEnd: frontEnd).submit(guided))
        try Self.expectSame(served, as: alone)
        // Every step of both images sent its unconditional row to the other worker.
        let split = await Fixtures.eventually { frontEnd.guidanceRowsServed == steps.joined().count }
        #expect(split, "rows served by CFG-split peers: \(frontEnd.guidanceRowsServed)")
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// The CFG split with add-ons through worker processes: each image's unconditional rows run on
    /// the other image worker with the image's LoRAs (loaded there too and merged from the same start
    /// step, 2) and with their own ControlNet residuals, computed in the image's worker or by a
    /// `controlnet` worker. Each image equals the pipeline's in this process (the LoRAs merged from
    /// step 2, as `tessera generate-image --lora-start-step 2`), every step's unconditional row ran on
    /// the peer, and a plain image afterwards shows the peers' weights pristine again.
    @Test(arguments: [false, true]) func cfgSplitWithAddOnsGivesTheSingleProcessImage(controlNetWorker: Bool) async throws {
        let fixtures = Support.repository.appendingPathComponent("fixtures/diffusion")
        let (peft, kohya) = (fixtures.appendingPathComponent("loras/sd1-tiny-peft.safetensors"), fixtures.appendingPathComponent("loras/sd1-tiny-kohya.safetensors"))
        let controlNet = fixtures.appendingPathComponent("controlnet-sd1-tiny")
        let frontEnd = try await Support.frontEnd(Self.cfgSplit(controlNetWorker: controlNetWorker)) { options in
            options.imageModelDirectory = Self.folder
            options.imageWorkerArguments = ["--lora-start-step", "2", "--lora", "peft=\(peft.path)", "--lora", "kohya=\(kohya.path)"]
                + (controlNetWorker ? [] : ["--controlnet", "edges=\(controlNet.path)"])
            options.controlNetWorkerArguments = ["--controlnet", "edges=\(controlNet.path)"]
        }
        let images = ClusterImageService(frontEnd: frontEnd)
        let control = try ImageDecoder.decode(contentsOf: fixtures.appendingPathComponent("control-images/control-a.png"))
        let cases: [(loras: [LoRAUse], controlNets: [ControlNetUse])] = [
            ([LoRAUse(name: "peft", scale: 0.8)], []),
            ([], [ControlNetUse(name: "edges", image: control, scale: 0.7)]),
            ([LoRAUse(name: "peft", scale: 0.8), LoRAUse(name: "kohya", scale: 0.5)], [ControlNetUse(name: "edges", image: control, scale: 0.9, end: 0.75)]),
        ]
        let pipeline = try StableDiffusionPipeline(directory: Self.folder)
        let model = try ControlNetModel(directory: controlNet)
        let files = ["peft": try LoRAFile(url: peft), "kohya": try LoRAFile(url: kohya)]
        var rows = 0
        for (k, addOns) in cases.enumerated() {
            let base = TextToImageRequest(prompt: "a house", negativePrompt: "fog", steps: 4, guidanceScale: 5, scheduler: .ddim,
                                          width: 64, height: 64, seed: 5 + UInt64(k))
            let (served, _) = try await Self.collect(try images.submit([ImageRequest(base, loras: addOns.loras, controlNets: addOns.controlNets)]))
            var local = base
            local.loras = addOns.loras.map { LoRARequest(file: files[$0.name]!, scale: $0.scale) }
            (local.loraMode, local.loraStartStep) = (.merged, 2)
            local.controlNets = addOns.controlNets.map { ControlNetRequest(controlNet: model, image: $0.image, scale: $0.scale, start: $0.start, end: $0.end) }
            try Self.expectSame(served, as: [try pipeline.generate(local)])
            #expect(try pipeline.generate(base).rgb8 != served[0]?.rgb8, "case \(k): the add-ons changed nothing")
            rows += base.steps
            let split = await Fixtures.eventually { frontEnd.guidanceRowsServed == rows }
            #expect(split, "case \(k): rows served by CFG-split peers: \(frontEnd.guidanceRowsServed), expected \(rows)")
        }
        if controlNetWorker {
            // Both rows of every step inside the windows: 4 steps, then 3 of 4 (the window ends at 0.75).
            let counted = await Fixtures.eventually { frontEnd.controlNetCounters.calls == 2 * (4 + 3) }
            #expect(counted, "calls: \(frontEnd.controlNetCounters.calls)")
        }
        let plain = [Self.requests[0]]
        let (served, _) = try await Self.collect(try images.submit(plain))
        try Self.expectSame(served, as: try Self.alone(plain).images)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// A CFG-split image with a LoRA whose client leaves midway: its peer forgets it and restores its
    /// pristine weights at once (its heartbeat says no LoRAs are merged), not at its next call that
    /// needs other weights, and so does the image's worker; a plain image afterwards equals the
    /// pipeline's in this process.
    @Test func aCancelledSplitImageLeavesThePeersWeightsPristine() async throws {
        let peft = Support.repository.appendingPathComponent("fixtures/diffusion/loras/sd1-tiny-peft.safetensors")
        let frontEnd = try await Support.frontEnd(Self.cfgSplit()) { options in
            options.imageModelDirectory = Self.folder
            // The image's worker holds it after its fifth step until it is cancelled (the 4-step image below passes).
            options.imageWorkerArguments = ["--lora", "peft=\(peft.path)", "--pause-at-step", "5"]
        }
        let images = ClusterImageService(frontEnd: frontEnd)
        let long = ImageRequest(TextToImageRequest(prompt: "a house", negativePrompt: "fog", steps: 150, guidanceScale: 5, scheduler: .ddim,
                                                   width: 64, height: 64, seed: 3), loras: [LoRAUse(name: "peft", scale: 0.8)])
        do {
            var events = try images.submit([long]).makeAsyncIterator()
            while let event = try await events.next() {
                if case let .progress(_, step, _, _, _) = event, step == 5 { break }
            }
            // Both workers hold the image on merged weights: the image's worker its rows, the peer the unconditional ones.
            let merged = await Fixtures.eventually { frontEnd.loraMergeCounters.mergedWorkers == 2 && frontEnd.guidanceRowsServed == 5 }
            #expect(merged, "workers with LoRAs merged: \(frontEnd.loraMergeCounters.mergedWorkers), rows served: \(frontEnd.guidanceRowsServed)")
        }
        // The iteration ended: the client left, and the held image leaves at its step boundary, after exactly five steps.
        let pristine = await Fixtures.eventually { frontEnd.loraMergeCounters.mergedWorkers == 0 }
        #expect(pristine, "workers with LoRAs merged after the cancellation: \(frontEnd.loraMergeCounters.mergedWorkers)")
        #expect(frontEnd.guidanceRowsServed == 5)
        let plain = [Self.requests[0]]
        let (served, _) = try await Self.collect(try images.submit(plain))
        try Self.expectSame(served, as: try Self.alone(plain).images)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    @Test func refusalsComeBackAsClientErrors() async throws {
        let frontEnd = try await Self.frontEnd("""
            groups:
              - group: text
                workers: [{role: mono, count: 1}]
              - group: image
                workers: [{role: image, count: 1}]
            """)
        let images = ClusterImageService(frontEnd: frontEnd)
        #expect(throws: ImageGenerationError.self) {
            _ = try images.submit([TextToImageRequest(prompt: "x", steps: 4, width: 60, height: 64)])
        }
        #expect(throws: ImageGenerationError.self) { _ = try images.submit([TextToImageRequest(prompt: "x", steps: 1000)]) }
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    @Test func topologyChecksTheImagePool() throws {
        #expect(throws: FrontEndError.self) {
            try Support.topology("groups: [{group: image, workers: [{role: mono, count: 1}]}]")
        }
        #expect(throws: FrontEndError.self) {
            try Support.topology("groups: [{group: text, workers: [{role: mono, count: 1}, {role: image, count: 1}]}]")
        }
        #expect(throws: FrontEndError.self) {
            try Support.topology("groups: [{group: text, cfg_split: true, workers: [{role: mono, count: 1}]}]")
        }
        let topology = try Support.topology("groups: [{group: text, workers: [{role: mono, count: 1}]}, {group: image, cfg_split: true, workers: [{role: image, count: 2}]}]")
        #expect(topology.groups[1].cfgSplit == true)
    }

    /// A front end with a text worker, an image worker and a `controlnet` worker; `configure` gives their add-ons.
    static func withControlNetWorker(_ configure: (inout FrontEndOptions) -> Void) async throws -> ClusterFrontEnd {
        try await Support.frontEnd("""
            groups:
              - group: text
                workers: [{role: mono, count: 1}]
              - group: image
                workers: [{role: image, count: 1}, {role: controlnet, count: 1}]
            """) { options in
            options.imageModelDirectory = folder
            configure(&options)
        }
    }

    /// ControlNet as a service: a `controlnet` worker process runs the ControlNets, the UNet gets
    /// their residuals each step over the worker's transfer endpoint, and the image equals the one
    /// with the ControlNets in process. Its resident set holds one of the two registered names
    /// (the budget fits one), so alternating between them loads each time.
    @Test func controlNetServiceGivesTheInProcessImage() async throws {
        let fixtures = Support.repository.appendingPathComponent("fixtures/diffusion")
        let folder = fixtures.appendingPathComponent("controlnet-sd1-tiny")
        let frontEnd = try await Self.withControlNetWorker { options in
            options.controlNetWorkerArguments = ["--controlnet", "canny=\(folder.path)", "--controlnet", "depth=\(folder.path)", "--controlnet-memory", "0.75"]
        }
        let slot = try #require(frontEnd.clusterStatus().first { $0.role == .controlnet }?.id)
        let service = try ControlNetServiceConnection(endpoint: try #require(frontEnd.workerEndpoint(slot: slot)))
        let pipeline = try StableDiffusionPipeline(directory: Self.folder)
        let local = try ControlNetModel(directory: folder)
        let images = [try ImageDecoder.decode(contentsOf: fixtures.appendingPathComponent("control-images/control-a.png")),
                      try ImageDecoder.decode(contentsOf: fixtures.appendingPathComponent("control-images/control-b.png"))]
        func request(_ nets: [any ControlNetRunner]) -> TextToImageRequest {
            TextToImageRequest(prompt: "a house", negativePrompt: "fog", steps: 3, guidanceScale: 5, scheduler: .ddim, width: 64, height: 64, seed: 5,
                               controlNets: zip(nets, images).enumerated().map { i, pair in
                                   ControlNetRequest(controlNet: pair.0, image: pair.1, scale: i == 0 ? 0.8 : 0.5, start: 0, end: i == 0 ? 1 : 0.7)
                               })
        }
        let inProcess = try pipeline.generate(request([local, local]))
        let served = try pipeline.generate(request([RemoteControlNet(name: "canny", service: service), RemoteControlNet(name: "depth", service: service)]))
        #expect(served.latents == inProcess.latents)
        #expect(served.rgb8 == inProcess.rgb8)
        // Without the ControlNets the image differs: the residuals mattered.
        #expect(try pipeline.generate(request([])).rgb8 != served.rgb8)
        // 3 steps × 2 CFG rows × (2 ControlNets, the second inside its window for 2 of the 3 steps).
        let counted = await Fixtures.eventually { frontEnd.controlNetCounters.calls == 2 * (3 + 2) }
        #expect(counted, "calls: \(frontEnd.controlNetCounters.calls)")
        // One resident at a time: every switch between the two names loads again.
        #expect(frontEnd.controlNetCounters.loads > 2)
        service.close()
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// Named add-ons through the image pool: the LoRA registered on the image worker, the
    /// ControlNet only on the `controlnet` worker (so its residuals can only come from there). The
    /// image equals the pipeline's with the add-ons loaded in this process (the LoRA merged, as
    /// `tessera generate-image` does), and a name no worker registered is refused.
    @Test func namedAddOnsThroughWorkersEqualTheSingleProcessPipeline() async throws {
        let fixtures = Support.repository.appendingPathComponent("fixtures/diffusion")
        let peft = fixtures.appendingPathComponent("loras/sd1-tiny-peft.safetensors")
        let controlNet = fixtures.appendingPathComponent("controlnet-sd1-tiny")
        let frontEnd = try await Self.withControlNetWorker { options in
            options.imageWorkerArguments = ["--lora", "peft=\(peft.path)"]
            options.controlNetWorkerArguments = ["--controlnet", "edges=\(controlNet.path)"]
        }
        let images = ClusterImageService(frontEnd: frontEnd)
        #expect(images.adapters.map(\.name) == ["peft", "edges"])
        let control = try ImageDecoder.decode(contentsOf: fixtures.appendingPathComponent("control-images/control-a.png"))
        let base = TextToImageRequest(prompt: "a house", negativePrompt: "fog", steps: 3, guidanceScale: 5, scheduler: .ddim, width: 64, height: 64, seed: 5)
        let named = ImageRequest(base, loras: [LoRAUse(name: "peft", scale: 0.8)], controlNets: [ControlNetUse(name: "edges", image: control, scale: 0.7)])
        let (served, _) = try await Self.collect(try images.submit([named]))
        var local = base
        local.loras = [LoRARequest(file: try LoRAFile(url: peft), scale: 0.8)]
        local.loraMode = .merged
        local.controlNets = [ControlNetRequest(controlNet: try ControlNetModel(directory: controlNet), image: control, scale: 0.7)]
        let pipeline = try StableDiffusionPipeline(directory: Self.folder)
        try Self.expectSame(served, as: [try pipeline.generate(local)])
        #expect(try pipeline.generate(base).rgb8 != served[0]?.rgb8)
        // 3 steps × 2 CFG rows, every one answered by the controlnet worker.
        let counted = await Fixtures.eventually { frontEnd.controlNetCounters.calls == 6 }
        #expect(counted, "calls: \(frontEnd.controlNetCounters.calls)")
        for unknown in [ImageRequest(base, loras: [LoRAUse(name: "style")]), ImageRequest(base, controlNets: [ControlNetUse(name: "canny", image: control)])] {
            do {
                _ = try images.submit([unknown])
                Issue.record("an unregistered add-on was accepted")
            } catch {
                guard case .adapterNotFound = error else { Issue.record("\(error)"); continue }
            }
        }
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
