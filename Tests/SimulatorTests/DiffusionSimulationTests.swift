import Cluster
import Foundation
import Testing
@testable import Simulator

/// Image generation in the simulator: step-level batching, the LoRA cache and loader, the image
/// routers and the ControlNet pool scaler, on hand-computable costs.
@Suite struct DiffusionSimulationTests {
    /// UNet call: 300 ms + 0.5 ms per row-pixel, so one guided 10×10 image adds 100 ms; nothing else costs.
    static func costModel(loraLoadMs: Double = 0, loraMergeMs: Double = 0, controlNetFixedMs: Double = 0, maxBatch: Int = 8) -> CostModel {
        var model = roundCostModel()
        model.diffusion = .init(stepFixedMs: 300, stepPerRowPixelMs: 0.5, controlNetFixedMs: controlNetFixedMs, controlNetPerPixelMs: 0,
                                vaeDecodeFixedMs: 0, vaeDecodePerPixelMs: 0, textEncodeMs: 0, loraLoadMs: loraLoadMs, loraMergeMs: loraMergeMs,
                                maxBatchSize: maxBatch, loraCacheEntries: 4, referenceWidth: 10, referenceHeight: 10)
        return model
    }

    static func image(at arrival: Double, steps: Int = 10, loras: [String] = [], controlNets: [String] = []) -> TraceRequest {
        TraceRequest(arrival: arrival, imageGeneration: ImageGeneration(steps: steps, width: 10, height: 10, guidanceScale: 7.5,
                                                                              loras: loras, controlNets: controlNets))
    }

    static func system(_ name: String, workers: Int = 1, controlNets: Int = 0, imageRouter: String = "least-queued-images",
                       maxImageBatch: Int? = nil) -> SystemSpec {
        var slots = [Deployment.Slot(role: .image, group: .image, count: workers)]
        if controlNets > 0 { slots.append(.init(role: .controlnet, group: .image, count: controlNets)) }
        var spec = SystemSpec(name: name, deployment: Deployment(slots: slots))
        spec.policies.imageRouter = imageRouter
        // These tests follow images that share steps whatever their LoRAs.
        spec.policies.imageBatcher = "mixed-lora"
        spec.maxImageBatch = maxImageBatch
        return spec
    }

    static func latencies(_ trace: Trace, _ system: SystemSpec, _ model: CostModel) throws -> [Double] {
        let sim = try ClusterSimulator.simulate(trace: trace, system: system, costModel: model, slo: looseSLO, predictor: nil)
        return sim.requests.map { $0.finish - $0.info.arrival }
    }

    @Test func stepBatchingBeatsOneImageAtATime() throws {
        let trace = Trace(requests: (0..<4).map { _ in Self.image(at: 0) })
        // Batched: the first image's first step starts alone on its arrival (0.4 s); the others join
        // at its end, nine steps of four (300 + 4·100 ms) follow, and three finish with one step of three.
        let batched = try Self.latencies(trace, Self.system("batched"), Self.costModel())
        #expect(zip(batched, [6.7, 7.3, 7.3, 7.3]).allSatisfy { abs($0 - $1) < 1e-9 })
        // One at a time: 400 ms steps, images end at 4, 8, 12, 16 s.
        let alone = try Self.latencies(trace, Self.system("alone", maxImageBatch: 1), Self.costModel())
        #expect(zip(alone, [4.0, 8, 12, 16]).allSatisfy { abs($0 - $1) < 1e-9 })
        let result = try ClusterSimulator.run(trace: trace, system: Self.system("batched"), costModel: Self.costModel(), slo: looseSLO)
        #expect(result.imageLatency.map { abs($0.mean - 7.15) < 1e-9 } == true && result.completed == 4)
    }

    @Test func imagesJoinWhileTheirActivationMemoryFits() throws {
        // 400 kB per guided 10×10 image (2 rows × 100 pixels × 2000 B): two fit in 1 MiB, three do not.
        var model = Self.costModel()
        model.diffusion!.memory = .init(keptBytes: 0, stepBytesPerRowPixel: 2000, vaeBytesPerPixel: 0)
        var system = Self.system("memory")
        system.imageMemoryMiB = 1
        let trace = Trace(requests: (0..<4).map { _ in Self.image(at: 0) })
        let bounded = try ClusterSimulator.simulate(trace: trace, system: system, costModel: model, slo: looseSLO, predictor: nil)
        // 40 image-steps at most two a call; the budget alone (default 8 GiB) leaves the cap's 11 calls.
        #expect(bounded.imageWork.imageSteps == 40 && bounded.imageWork.unetCalls >= 20)
        system.imageMemoryMiB = nil
        let unbounded = try ClusterSimulator.simulate(trace: trace, system: system, costModel: model, slo: looseSLO, predictor: nil)
        #expect(unbounded.imageWork.unetCalls == 11)
    }

    @Test func imagesJoinAtStepBoundaries() throws {
        // The second image arrives mid-step: it joins at the next boundary (0.4 s), runs its ten steps in batches of two.
        let trace = Trace(requests: [Self.image(at: 0), Self.image(at: 0.1)])
        let latencies = try Self.latencies(trace, Self.system("join"), Self.costModel())
        // Image 0: one 0.4 s step alone, nine 0.5 s steps shared → 4.9 s. Image 1: from 0.4 s, nine shared then one alone: 4.9 + 0.4 − 0.1.
        #expect(abs(latencies[0] - 4.9) < 1e-9)
        #expect(abs(latencies[1] - (4.9 + 0.4 - 0.1)) < 1e-9)
    }

    @Test func theImageBatcherDecidesWhetherLoRAsShareAStep() throws {
        // Two images at 0 s: the first runs its first step alone (0.4 s), then they share 0.5 s steps.
        let mixedTrace = Trace(requests: [Self.image(at: 0, loras: ["x"]), Self.image(at: 0, loras: ["y"])])
        var homogeneous = Self.system("homogeneous")
        homogeneous.policies.imageBatcher = "lora-homogeneous"
        let mixed = try Self.latencies(mixedTrace, Self.system("mixed"), Self.costModel())
        #expect(zip(mixed, [4.9, 5.3]).allSatisfy { abs($0 - $1) < 1e-9 })
        // One LoRA set a step: LoRA y's image waits for all of x's ten steps.
        let apart = try Self.latencies(mixedTrace, homogeneous, Self.costModel())
        #expect(zip(apart, [4.0, 8.0]).allSatisfy { abs($0 - $1) < 1e-9 })
        // The same LoRA set shares steps under either policy.
        let same = try Self.latencies(Trace(requests: [Self.image(at: 0, loras: ["x"]), Self.image(at: 0, loras: ["x"])]), homogeneous, Self.costModel())
        #expect(zip(same, [4.9, 5.3]).allSatisfy { abs($0 - $1) < 1e-9 })
        // A name outside the catalog is a config error.
        let json = Data(#"{"name": "s", "deployment": {"slots": [{"role": "image", "group": "image", "count": 1}]}, "imageBatcher": "by-lora"}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SystemSpec.self, from: json) }
    }

    @Test func aCachedLoRALoadsOnce() throws {
        // Two images with LoRA "x" one after the other on one worker: only the first waits for its 1 s load (at step 0).
        let trace = Trace(requests: [Self.image(at: 0, loras: ["x"]), Self.image(at: 10, loras: ["x"])])
        let latencies = try Self.latencies(trace, Self.system("cache"), Self.costModel(loraLoadMs: 1000))
        #expect(abs(latencies[0] - 5) < 1e-9)
        #expect(abs(latencies[1] - 4) < 1e-9)
        // Started late (Katz's bounded asynchronous loading): the load hides behind the first three steps.
        var late = Self.system("late")
        late.loraStartStep = 3
        let hidden = try Self.latencies(Trace(requests: [Self.image(at: 0, loras: ["x"])]), late, Self.costModel(loraLoadMs: 1000))
        #expect(abs(hidden[0] - 4) < 1e-9)
    }

    @Test func aCFGSplitPeerLoadsTheImagesLoRAsToo() throws {
        // Image 0 (unguided, LoRA x) runs whole on worker 0, which loads x (1 s). Image 1 (guided, x)
        // at 10 s: worker 0 holds x, its CFG-split peer 1 loads it on its own loader first.
        func guidance(_ request: TraceRequest, _ scale: Double) -> TraceRequest {
            var request = request
            request.imageGeneration!.guidanceScale = scale
            return request
        }
        let trace = Trace(requests: [guidance(Self.image(at: 0, loras: ["x"]), 1), Self.image(at: 10, loras: ["x"])])
        var split = Self.system("split", workers: 2)
        split.cfgSplit = true
        let model = Self.costModel(loraLoadMs: 1000)
        let routes = try ClusterSimulator.imageRoutes(trace: trace, system: split, costModel: model, slo: looseSLO)
        #expect(routes.map(\.route.worker) == [0, 0] && routes.map(\.route.guidancePeer) == [nil, 1])
        // One row a step on each worker: 300 + 50 ms. Image 1's first step waits for the peer's load.
        let latencies = try Self.latencies(trace, split, model)
        #expect(abs(latencies[0] - (1 + 3.5)) < 1e-9)
        #expect(abs(latencies[1] - (1 + 3.5)) < 1e-9, "\(latencies[1])")
        // Started late, the peer's load hides behind the first three steps (1.05 s) as the worker's does.
        split.loraStartStep = 3
        let hidden = try Self.latencies(trace, split, model)
        #expect(abs(hidden[1] - 3.5) < 1e-9, "\(hidden[1])")
        // The peer's cache holds x afterwards: adapter-affine routing sees it there.
        let sim = try ClusterSimulator.simulate(trace: trace, system: split, costModel: model, slo: looseSLO, predictor: nil)
        #expect(sim.cachedLoRAs(on: 1) == ["x"])
        // The peer merges x into its weights too (100 ms), once: the image's first step waits for both merges.
        split.loraStartStep = 0
        let merged = try Self.latencies(Trace(requests: [Self.image(at: 0, loras: ["x"])]), split, Self.costModel(loraMergeMs: 100))
        #expect(abs(merged[0] - (3.5 + 0.1 + 0.1)) < 1e-9, "\(merged[0])")
    }

    @Test func mixedLoRABatchesPayTheUnmergedRowsAndJoiningLoRAsTheirBinding() throws {
        // 10 ms a row for each LoRA applied unmerged; LoRA x's image runs its first step alone on merged
        // weights (free), then the two share nine steps of 300 + 2·100 ms + four unmerged rows (40 ms).
        var model = Self.costModel()
        model.diffusion!.unmergedLoRAFixedMs = 10
        let mixedTrace = Trace(requests: [Self.image(at: 0, loras: ["x"]), Self.image(at: 0, loras: ["y"])])
        let mixed = try Self.latencies(mixedTrace, Self.system("mixed"), model)
        #expect(zip(mixed, [0.4 + 9 * 0.54, 0.4 + 9 * 0.54 + 0.4]).allSatisfy { abs($0 - $1) < 1e-9 }, "\(mixed)")
        // The worker's charges by phase, as a live engine's image_loop_seconds_total reports them: eleven calls, twenty image-steps.
        let work = try #require(try ClusterSimulator.run(trace: mixedTrace, system: Self.system("mixed"), costModel: model, slo: looseSLO).imageWork)
        #expect(work.unetCalls == 11 && work.imageSteps == 20 && abs(work.seconds.unet - (0.8 + 9 * 0.54)) < 1e-9, "\(work)")
        #expect(work.seconds.admission == 0 && work.seconds.loraActivation == 0 && work.seconds.loraMerge == 0 && work.seconds.decode == 0)
        // One LoRA set: merged weights, no unmerged rows.
        let same = try Self.latencies(Trace(requests: [Self.image(at: 0, loras: ["x"]), Self.image(at: 0, loras: ["x"])]), Self.system("same"), model)
        #expect(zip(same, [4.9, 5.3]).allSatisfy { abs($0 - $1) < 1e-9 }, "\(same)")
        // Each LoRA is bound on the step loop (50 ms) when it joins the image, at its start step.
        model.diffusion!.loraBindMs = 50
        var late = Self.system("late")
        late.loraStartStep = 2
        let bound = try Self.latencies(Trace(requests: [Self.image(at: 0, loras: ["x", "y"])]), late, model)
        #expect(abs(bound[0] - (4 + 2 * 0.05)) < 1e-9, "\(bound)")
        let charged = try #require(try ClusterSimulator.run(trace: Trace(requests: [Self.image(at: 0, loras: ["x", "y"])]), system: late,
                                                            costModel: model, slo: looseSLO).imageWork)
        #expect(abs(charged.seconds.loraActivation - 0.1) < 1e-9 && charged.unetCalls == 10, "\(charged)")
    }

    @Test func aRowPaysItsPixelsSquaredForSelfAttention() throws {
        // 0.001 ms per pixel² a row: a guided 10×10 image's two rows add 2·(0.5·100 + 0.001·100²) = 120 ms to the 300 ms call.
        var model = Self.costModel()
        model.diffusion!.stepPerRowPixelSquaredMs = 0.001
        model.diffusion!.controlNetPerPixelSquaredMs = 0.002
        let latencies = try Self.latencies(Trace(requests: [Self.image(at: 0)]), Self.system("one"), model)
        #expect(abs(latencies[0] - 4.2) < 1e-9, "\(latencies)")
        // A ControlNet's rows likewise: 2 · 0.002 · 100² = 40 ms more a step.
        let controlled = try Self.latencies(Trace(requests: [Self.image(at: 0, controlNets: ["c"])]), Self.system("one"), model)
        #expect(abs(controlled[0] - 4.6) < 1e-9, "\(controlled)")
    }

    @Test func theControlNetScalerGetsEachTermOfTheCallCost() throws {
        // The planners price a call at its own size: the fixed, per-pixel and per-pixel² terms reach the capacity apart.
        var model = Self.costModel()
        model.diffusion!.controlNetFixedMs = 3
        model.diffusion!.controlNetPerPixelMs = 0.5
        model.diffusion!.controlNetPerPixelSquaredMs = 0.002
        let capacity = model.capacity(meanImageTokens: 0, meanImages: 0, meanPrompt: 16, meanOutput: 16)
        #expect(abs(try #require(capacity.controlNetSecondsPerCall) - 0.003) < 1e-15)
        #expect(abs(try #require(capacity.controlNetSecondsPerCallPixel) - 0.0005) < 1e-15)
        #expect(abs(try #require(capacity.controlNetSecondsPerCallPixelSquared) - 0.000002) < 1e-18)
    }

    @Test func diffusionCostsWithoutTheLoRABindingAndUnmergedCostsStillLoad() throws {
        // A profile written before they were measured: they read as 0; written back, they are kept.
        var costs = try #require(Self.costModel().diffusion)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(costs)) as? [String: Any])
        for key in ["loraBindMs", "unmergedLoRAFixedMs", "unmergedLoRAPerPixelMs", "unmergedLoRAPerPixelSquaredMs", "stepPerRowPixelSquaredMs",
                    "controlNetPerPixelSquaredMs"] { #expect(object.removeValue(forKey: key) != nil) }
        let old = try JSONDecoder().decode(CostModel.Diffusion.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old == costs)
        costs.loraBindMs = 4
        costs.unmergedLoRAPerPixelMs = 0.25
        costs.stepPerRowPixelSquaredMs = 1e-6
        #expect(try JSONDecoder().decode(CostModel.Diffusion.self, from: JSONEncoder().encode(costs)) == costs)
        #expect(abs(costs.unmergedLoRASeconds(width: 10, height: 10) - 0.025) < 1e-12)
    }

    @Test func adapterAffinityRoutesToTheWorkerHoldingTheLoRA() throws {
        // Image 0 (LoRA x) goes to worker 0; at 1 s image 1 (LoRA x) finds worker 0 busy and worker 1 idle.
        let trace = Trace(requests: [Self.image(at: 0, steps: 100, loras: ["x"]), Self.image(at: 1, loras: ["x"])])
        let least = try ClusterSimulator.imageRoutes(trace: trace, system: Self.system("least", workers: 2), costModel: Self.costModel(), slo: looseSLO)
        #expect(least.map(\.route.worker) == [0, 1])
        let affine = try ClusterSimulator.imageRoutes(trace: trace, system: Self.system("affine", workers: 2, imageRouter: "adapter-affinity"),
                                                      costModel: Self.costModel(), slo: looseSLO)
        #expect(affine.map(\.route.worker) == [0, 0])
    }

    @Test func controlNetScalerGrowsThePoolWithItsLoad() throws {
        // 2 images/s × 10 steps × 2 rows × 2 ControlNets × 0.1 s per call = 8 s of ControlNet work per second.
        let trace = Trace(requests: (0..<60).map { Self.image(at: (Double($0) + 0.25) / 2, controlNets: ["c", "d"]) })
        var spec = Self.system("scaled", workers: 4, controlNets: 1)
        spec.policies.planners = [PlannerSpec("controlnet-scaler", options: ["interval": 5, "targetUtilization": 1, "maximumInstances": 12])]
        var model = Self.costModel(controlNetFixedMs: 100)
        model.lifecycle.startupSeconds = 1
        let sim = try ClusterSimulator.simulate(trace: trace, system: spec, costModel: model, slo: looseSLO, predictor: nil)
        // The first round (at 5 s) launches seven; they are up a second later.
        #expect(sim.timeline.map { $0.byRole["controlnet"] ?? 0 }.max() == 8)
        #expect(sim.done == 60)
    }

    @Test func imageTraceLinesRoundTrip() throws {
        let line = #"{"arrival": 1.5, "image_generation": {"steps": 20, "width": 512, "height": 512, "loras": ["lora-3"], "controlnets": ["canny"]}}"#
        let trace = try Trace.parseJSONL(line)
        #expect(trace.requests[0].imageGeneration == ImageGeneration(steps: 20, width: 512, height: 512, guidanceScale: 7.5,
                                                                           loras: ["lora-3"], controlNets: ["canny"]))
        #expect(try Trace.parseJSONL(try trace.jsonl()) == trace)
        #expect(throws: SimulationError.self) { try Trace.parseJSONL(#"{"arrival": 0, "image_generation": {"steps": 0, "width": 8, "height": 8}}"#) }
        // Without a diffusion section, a trace with images is refused rather than mis-simulated.
        #expect(throws: SimulationError.self) {
            try ClusterSimulator.run(trace: trace, system: Self.system("none"), costModel: roundCostModel(), slo: looseSLO)
        }
    }

    @Test func katzMixDrawsAddOnsAsConfigured() throws {
        var options = SyntheticTraceGenerator.Options()
        options.durationSeconds = 200
        options.ratePerSecond = 5
        options.imageGeneration = SyntheticTraceGenerator.ImageGenerationMix()
        let trace = try SyntheticTraceGenerator(options).generate()
        let images = trace.requests.compactMap(\.imageGeneration)
        #expect(images.count == trace.requests.count && images.count > 800)
        let withLoRA = Double(images.count { !$0.loras.isEmpty }) / Double(images.count)
        let withControlNet = Double(images.count { !$0.controlNets.isEmpty }) / Double(images.count)
        #expect(withLoRA > 0.92 && withLoRA < 0.98 && withControlNet > 0.96)
        #expect(images.allSatisfy { $0.loras.count <= 2 && $0.controlNets.count <= 3 && Set($0.loras).count == $0.loras.count })
    }
}
