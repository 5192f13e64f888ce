import Testing
@testable import Cluster

/// The diffusion policies' decisions: fewest queued images, adapter affinity within a bounded
/// imbalance, and the ControlNet pool sized to its load.
@Suite struct DiffusionPolicyTests {
    static func image(loras: [String] = [], controlNets: [String] = [], guidance: Double = 7.5) -> ImageRequestInfo {
        ImageRequestInfo(id: 0, arrival: 0, generation: ImageGeneration(steps: 10, width: 64, height: 64, guidanceScale: guidance, loras: loras, controlNets: controlNets))
    }

    static func pool(queued: [Int], loras: [Int: Set<String>] = [:], controlNets: Int = 0) -> ClusterSnapshot {
        var instances = queued.enumerated().map { InstanceStatus(id: $0.offset, role: .image, group: .image, queuedRequests: $0.element) }
        instances += (0..<controlNets).map { InstanceStatus(id: queued.count + $0, role: .controlnet, group: .image) }
        return ClusterSnapshot(instances: instances, loras: loras)
    }

    @Test func fewestQueuedImagesWithAGuidancePeer() {
        let view = Self.pool(queued: [2, 0, 1])
        let router = DiffusionRouter()
        #expect(router.route(Self.image(), candidates: view.imageWorkers, splitGuidance: false, in: view) == ImageRoute(worker: 1))
        #expect(router.route(Self.image(), candidates: view.imageWorkers, splitGuidance: true, in: view) == ImageRoute(worker: 1, guidancePeer: 2))
        // Ties go to the lowest id; one worker runs a split image whole; none routes nothing.
        let even = Self.pool(queued: [1, 1])
        #expect(router.route(Self.image(), candidates: even.imageWorkers, splitGuidance: false, in: even)?.worker == 0)
        #expect(router.route(Self.image(), candidates: [2], splitGuidance: true, in: view) == ImageRoute(worker: 2))
        #expect(router.route(Self.image(), candidates: [], splitGuidance: false, in: view) == nil)
    }

    @Test func stepBatchesTakeTheOldestImagesSizeAndByPolicyItsLoRAs() throws {
        let sizes = [(32, 32), (16, 16), (32, 32), (32, 32)].map { StepCandidate(height: $0.0, width: $0.1) }
        let mixed = try PolicyCatalog.imageBatcher("mixed-lora"), homogeneous = try PolicyCatalog.imageBatcher("lora-homogeneous")
        #expect(mixed.select(sizes, maxBatchSize: 2) == [0, 2] && mixed.select(Array(sizes[1...]), maxBatchSize: 8) == [0])
        #expect(mixed.select([], maxBatchSize: 8).isEmpty)
        // The oldest image's LoRA set picks the group; base-weight rows (no LoRAs yet) form their own.
        let styled = [["a"], ["b"], ["a"], [], ["a"], ["a", "b"]].map { StepCandidate(height: 8, width: 8, loras: $0) }
        #expect(mixed.select(styled, maxBatchSize: 8) == Array(0 ..< 6))
        #expect(homogeneous.select(styled, maxBatchSize: 8) == [0, 2, 4] && homogeneous.select(styled, maxBatchSize: 2) == [0, 2])
        #expect(homogeneous.select(Array(styled[3...]), maxBatchSize: 8) == [0])
        #expect(homogeneous.select(sizes, maxBatchSize: 8) == [0, 2, 3])
        #expect(throws: ClusterError.self) { try PolicyCatalog.imageBatcher("by-lora") }
    }

    @Test func imagesJoinInOrderWhileTheirMemoryFits() {
        let need = ImageMemoryNeed(kept: 1, step: 100, vae: 250)
        // Kept bytes add up; the step shares add up against the largest VAE pass.
        #expect(ImageMemoryBudget.bytes(of: [need, need]) == 2 + 250)
        #expect(ImageMemoryBudget.bytes(of: [need, need, need]) == 3 + 300)
        #expect(ImageMemoryBudget.bytes(of: []) == 0)
        let large = ImageMemoryNeed(step: 1000, vae: 1000)
        // Two fit in 260 bytes beside nothing; the third waits, with the one slot behind it.
        #expect(ImageMemoryBudget.admissions(running: [], waiting: [need, need, need, need], slots: 4, budget: 260) == (2, 2))
        // Arrival order: a large image first holds back the small ones behind it.
        #expect(ImageMemoryBudget.admissions(running: [need], waiting: [large, need], slots: 8, budget: 300) == (0, 2))
        // An idle worker always takes the next image; slots bound the rest.
        #expect(ImageMemoryBudget.admissions(running: [], waiting: [large, need], slots: 8, budget: 300) == (1, 1))
        #expect(ImageMemoryBudget.admissions(running: [], waiting: [need, need, need], slots: 1, budget: 1 << 20) == (1, 0))
        #expect(ImageMemoryBudget.admissions(running: [need], waiting: [need], slots: 0, budget: 1 << 20) == (0, 0))
    }

    @Test func imageWorkersAreTheActiveImageRole() {
        var view = Self.pool(queued: [0, 0, 0], controlNets: 1)
        view.instances[1].isActive = false
        #expect(view.imageWorkers == [0, 2])
    }

    @Test func adapterAffinityPrefersTheCacheWithinTheImbalance() {
        let router = AdapterAffinityRouter(maxImbalance: 2)
        let loras: [Int: Set<String>] = [1: ["a"], 2: ["a", "b"]]
        // Worker 2 holds both LoRAs and is 2 images behind the idle worker 0: within the bound.
        let view = Self.pool(queued: [0, 1, 2], loras: loras)
        #expect(router.route(Self.image(loras: ["a", "b"]), candidates: view.imageWorkers, splitGuidance: false, in: view)?.worker == 2)
        // One LoRA held by 1 and 2: the less loaded of them.
        #expect(router.route(Self.image(loras: ["a"]), candidates: view.imageWorkers, splitGuidance: false, in: view)?.worker == 1)
        // Three behind is beyond the bound: the least loaded takes it, cache or not.
        let busy = Self.pool(queued: [0, 3, 3], loras: loras)
        #expect(router.route(Self.image(loras: ["a", "b"]), candidates: busy.imageWorkers, splitGuidance: false, in: busy)?.worker == 0)
        // No LoRA, or no cache holding it: the least loaded, as DiffusionRouter.
        #expect(router.route(Self.image(), candidates: view.imageWorkers, splitGuidance: false, in: view)?.worker == 0)
        #expect(router.route(Self.image(loras: ["z"]), candidates: view.imageWorkers, splitGuidance: false, in: view)?.worker == 0)
        // The guidance peer is the least loaded of the others.
        #expect(router.route(Self.image(loras: ["b"]), candidates: view.imageWorkers, splitGuidance: true, in: view) == ImageRoute(worker: 2, guidancePeer: 0))
    }

    @Test func controlNetCallsCountRowsStepsAndControlNets() {
        #expect(Self.image(controlNets: ["c", "d"]).controlNetCalls == 10 * 2 * 2)
        #expect(Self.image(controlNets: ["c"], guidance: 1).controlNetCalls == 10)
        #expect(Self.image().controlNetCalls == 0)
    }

    @Test func controlNetPoolIsCeilOfLoadOverCapacity() {
        var scaler = ControlNetPoolScaler(secondsPerCall: 0.05, targetUtilization: 0.8, minimumInstances: 1, maximumInstances: 5)
        #expect(scaler.required(load: StageLoad(controlNetCallsPerSecond: 40)) == 3)   // 2 s/s ÷ 0.8 = 2.5
        #expect(scaler.required(load: StageLoad(controlNetCallsPerSecond: 16)) == 1)   // exactly 1
        #expect(scaler.required(load: StageLoad()) == 1)
        #expect(scaler.required(load: StageLoad(controlNetCallsPerSecond: 1000)) == 5)
        // A per-pixel cost prices each call by its image's size: 10 calls/s of 64×64 at 1 µs per pixel.
        let sized = ControlNetPoolScaler(secondsPerCall: 0, secondsPerCallPixel: 1e-6, targetUtilization: 0.8)
        #expect(sized.required(load: StageLoad(controlNetCallsPerSecond: 10, controlNetCallPixelsPerSecond: 10 * 4096)) == 1)
        #expect(sized.required(load: StageLoad(controlNetCallsPerSecond: 100, controlNetCallPixelsPerSecond: 100 * 4096)) == 1)
        #expect(sized.required(load: StageLoad(controlNetCallsPerSecond: 400, controlNetCallPixelsPerSecond: 400 * 4096)) == 3)   // 1.64 s/s ÷ 0.8
        // A per-pixel² cost (self-attention) prices a 4× larger image's call 16× higher: 10 calls/s of 256×256 at 1e-10 s per pixel²
        // are 10 × 0.43 s = 4.3 s/s of work, ÷ 0.8 = 5.4 workers; the same calls' pixels priced linearly at the 64² rate would ask for 1.
        let attention = ControlNetPoolScaler(secondsPerCall: 0, secondsPerCallPixelSquared: 1e-10, targetUtilization: 0.8)
        let large = 65536.0
        #expect(attention.required(load: StageLoad(controlNetCallsPerSecond: 10, controlNetCallPixelsPerSecond: 10 * large,
                                                   controlNetCallPixelsSquaredPerSecond: 10 * large * large)) == 6)
        #expect(attention.required(load: StageLoad(controlNetCallsPerSecond: 10, controlNetCallPixelsPerSecond: 10 * 4096,
                                                   controlNetCallPixelsSquaredPerSecond: 10 * 4096 * 4096)) == 1)
        let load = { (calls: Double) in LoadObservation(window: 10, perGroup: [.image: StageLoad(controlNetCallsPerSecond: calls)]) }
        // One worker up, three needed: two launches, not repeated while they start.
        let one = Self.pool(queued: [0], controlNets: 1)
        #expect(scaler.plan(one, load: load(40)) == [.launch(role: .controlnet, group: .image), .launch(role: .controlnet, group: .image)])
        #expect(scaler.plan(one, load: load(40)).isEmpty)
        // Up, then the load falls to one worker's: the idlest two retire.
        var three = Self.pool(queued: [0], controlNets: 3)
        three.instances[1].queuedRequests = 4
        #expect(scaler.plan(three, load: load(40)).isEmpty)
        #expect(scaler.plan(three, load: load(10)) == [.retire(instance: 2), .retire(instance: 3)])
    }

    @Test func loadWindowCountsImagesInTheImagePool() {
        var window = LoadWindow(start: 0)
        window.arrived(Self.image(controlNets: ["c"]))
        window.arrived(Self.image(controlNets: ["c", "d"], guidance: 1))
        let observed = window.close(at: 10)
        #expect(observed.perGroup[.image] == StageLoad(requestsPerSecond: 0.2, controlNetCallsPerSecond: (20 + 20) / 10.0,
                                                       controlNetCallPixelsPerSecond: (20 + 20) * 4096 / 10.0,
                                                       controlNetCallPixelsSquaredPerSecond: (20 + 20) * 4096 * 4096 / 10.0))
    }

    @Test func catalogNamesTheDiffusionPolicies() throws {
        #expect(try PolicyCatalog.imageRouter("least-queued-images") is DiffusionRouter)
        #expect(try PolicyCatalog.imageRouter("adapter-affinity") is AdapterAffinityRouter)
        #expect(throws: ClusterError.self) { try PolicyCatalog.imageRouter("lora-affinity") }
        #expect(PolicySpec().imageRouter == "least-queued-images")
        #expect(PolicySpec().imageBatcher == "lora-homogeneous")
        #expect(try PolicyCatalog.imageBatcher(PolicySpec().imageBatcher) is LoRAHomogeneousStepBatch)
        var capacity = InstanceCapacity(encodeTokensPerSecond: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1, requestsPerSecond: 1,
                                        kvTransferSecondsPerToken: 0, decodeStepSeconds: 0.01, decodeStepSecondsPerSequence: 0)
        // The scaler needs a profiled ControlNet cost.
        #expect(throws: ClusterError.self) { try PolicyCatalog.planner(PlannerSpec("controlnet-scaler"), capacity: capacity) }
        capacity.controlNetSecondsPerCall = 0.05
        let planner = try #require(try PolicyCatalog.planner(PlannerSpec("controlnet-scaler", options: ["interval": 5, "maximumInstances": 4]),
                                                             capacity: capacity) as? ControlNetPoolScaler)
        #expect(planner.interval == 5 && planner.maximumInstances == 4 && planner.targetUtilization == 0.8 && planner.secondsPerCall == 0.05)
    }
}
