import Cluster
import CoreUtilities
import Foundation

/// Trace-driven discrete-event simulator of a serving cluster.
///
/// Instances advance by the ``CostModel``; every routing, batching and fleet decision is made by
/// the same `Cluster` policy objects a live front end runs, through the ``ClusterView`` this class
/// implements. Decode steps between batch changes are advanced in one event (their latencies form
/// an arithmetic series), and cut at the next step boundary when work joins, so an hour of a
/// 128-instance trace takes seconds.
///
/// ```swift
/// let result = try ClusterSimulator.run(trace: trace, system: spec, costModel: model, slo: slo)
/// ```
public final class ClusterSimulator: ClusterView {
    enum Event {
        case arrival(Int)
        case encoded(Int)
        case encodeDone(Int, Int)
        case prefillDone(Int, Int)
        case decodeDone(Int, Int)
        case staticDone(Int, Int)
        case joinDecode(Int, Int)
        case imageStepDone(Int, Int)
        case imageDecoded(Int, Int)
        case ready(Int)
        case plannerTick(Int)
        case sample
    }

    let cost: CostModel
    let system: SystemSpec
    let slo: SLOClasses
    let router: any RequestRouter
    let dispatcher: any EncodeDispatcher
    let imageRouter: any ImageRouter
    let imageBatcher: any StepBatchPolicy
    let batcher: any BatchPolicy
    /// The fleet planners, each on its own interval and load window.
    var schedule: FleetSchedule
    let limits: BatchLimits
    let staticBatching: Bool
    let chunkedPrefill: Bool
    /// The time bound on a chunked step's prompt tokens (the system's `stepTimeTargetMs`, a ``PolicySpec`` field).
    let stepBudget: StepTimeBudget
    /// Seconds of in-step CPU preprocessing per inline-encoded image.
    let blockingPreprocessSeconds: Double
    /// The layer split every instance runs, and its plan; nil for whole-model instances.
    let pipeline: (split: PipelineSplit, plan: LayerPlacement, reference: Double)?

    public internal(set) var now = 0.0
    public internal(set) var instances: [InstanceStatus] = []
    var fleet: [SimulatedInstance] = []
    var requests: [SimulatedRequest] = []
    var events = EventQueue<Event>()
    var parked: [Int] = []
    var candidateCache: [Int: [Int]] = [:]
    var reconfigurations = 0
    var timeline: [FleetSample] = []
    var done = 0
    var horizon = 0.0
    /// Every routing and batching decision in order, when asked for (``decisions(trace:system:costModel:slo:predictor:)``).
    var decisions: [RoutingDecision]?
    var batchDecisions: [BatchDecision]?
    var imageRoutes: [ImageRoutingDecision]?
    /// What the image workers were charged, phase by phase.
    var imageWork = ImageWork()
    let sampleInterval: Double

    init(system: SystemSpec, costModel: CostModel, slo: SLOClasses, capacity: InstanceCapacity, sampleInterval: Double) throws {
        guard system.deployment.size > 0, system.deployment.slots.allSatisfy({ $0.count >= 0 }) else {
            throw SimulationError.invalidConfig("system '\(system.name)' has no instances")
        }
        guard (system.maxImageBatch ?? 1) >= 1, (system.imageMemoryMiB ?? 1) >= 1, (system.loraStartStep ?? 0) >= 0 else {
            throw SimulationError.invalidConfig("system '\(system.name)': maxImageBatch and imageMemoryMiB must be at least 1 and loraStartStep non-negative")
        }
        guard (system.roleSwitchSeconds ?? 0) >= 0 else { throw SimulationError.invalidConfig("roleSwitchSeconds must be non-negative") }
        let preprocess = system.blockingPreprocessMsPerImage ?? 0
        guard preprocess >= 0, preprocess.isFinite else { throw SimulationError.invalidConfig("blockingPreprocessMsPerImage must be non-negative") }
        guard system.policies.stepTimeTargetMs >= 0, system.policies.stepTimeTargetMs.isFinite else {
            throw SimulationError.invalidConfig("system '\(system.name)': stepTimeTargetMs must be 0 or more")
        }
        guard ["chunked", "continuous", "static"].contains(system.batching) else {
            throw SimulationError.invalidConfig("batching must be 'chunked', 'continuous' or 'static', got '\(system.batching)'")
        }
        if let spec = system.pipeline {
            guard system.deployment.slots.allSatisfy({ $0.role == .mono }), spec.referenceFlopsPerSecond > 0 else {
                throw SimulationError.invalidConfig("system '\(system.name)': a pipeline splits mono instances, measured at a positive referenceFlopsPerSecond")
            }
            do { pipeline = (spec.split, try spec.split.plan(), spec.referenceFlopsPerSecond) } catch {
                throw SimulationError.invalidConfig("system '\(system.name)' pipeline: \(error)")
            }
        } else {
            pipeline = nil
        }
        cost = costModel
        self.system = system
        self.slo = slo
        do {
            let policies = system.policies
            router = try PolicyCatalog.router(policies.router)
            dispatcher = try PolicyCatalog.encodeDispatcher(policies.encodeDispatcher)
            imageRouter = try PolicyCatalog.imageRouter(policies.imageRouter)
            imageBatcher = try PolicyCatalog.imageBatcher(policies.imageBatcher)
            batcher = try PolicyCatalog.batcher(policies.batcher)
            let planners = try policies.planners.map { try PolicyCatalog.planner($0, capacity: capacity, maxInstances: system.maxInstances ?? .max) }
            schedule = FleetSchedule(planners: planners, start: 0)
        } catch {
            throw SimulationError.invalidConfig("system '\(system.name)': \(error)")
        }
        limits = BatchLimits(maxRequests: system.maxPrefillBatch ?? costModel.prefill.maxBatchRequests, maxTokens: costModel.prefill.maxBatchTokens)
        staticBatching = system.batching == "static"
        chunkedPrefill = system.batching == "chunked"
        stepBudget = StepTimeBudget(milliseconds: system.policies.stepTimeTargetMs)
        blockingPreprocessSeconds = preprocess / 1000
        self.sampleInterval = sampleInterval
        for slot in system.deployment.slots {
            for _ in 0..<slot.count { addInstance(role: slot.role, group: slot.group, phase: .active) }
        }
    }

    public func hasCached(image: ImageID, on instance: Int) -> Bool {
        guard system.prefixCache, fleet.indices.contains(instance) else { return false }
        return fleet[instance].prefixCache.contains(image) || fleet[instance].encoderCache.contains(image)
    }

    /// The instance's text prefix cache (``SimulatedInstance/promptBlocks``), which is what the
    /// live front end's record of a worker's cache would hold after the same requests.
    public func cachedPrefixTokens(of request: RequestInfo, on instance: Int) -> Int {
        guard system.prefixCache, fleet.indices.contains(instance) else { return 0 }
        return fleet[instance].promptBlocks.cachedTokens(request.promptBlockHashes)
    }

    public func cachedLoRAs(on instance: Int) -> Set<String> {
        guard fleet.indices.contains(instance) else { return [] }
        return Set(fleet[instance].loras.keys)
    }

    /// The image router's decisions on `trace`'s images to generate, in the order taken: what a
    /// replay through the live front end and its image workers must match.
    public static func imageRoutes(trace: Trace, system: SystemSpec, costModel: CostModel, slo: SLOClasses) throws -> [ImageRoutingDecision] {
        try simulate(trace: trace, system: system, costModel: costModel, slo: slo, predictor: nil, recordDecisions: true).imageRoutes ?? []
    }

    /// Simulates `trace` on `system` and summarises the run.
    public static func run(trace: Trace, system: SystemSpec, costModel: CostModel, slo: SLOClasses,
                           predictor: OutputLengthPredictor? = nil, offeredRate: Double? = nil) throws -> SimulationResult {
        let sim = try simulate(trace: trace, system: system, costModel: costModel, slo: slo, predictor: predictor)
        return sim.summary(offeredRate: offeredRate ?? Double(trace.requests.count) / sim.horizon)
    }

    /// The routing and batching decisions the policies take on `trace`, each in the order taken
    /// (request ids are positions in the trace): what a replay of the same trace through the live
    /// front end and its workers must match.
    public static func decisions(trace: Trace, system: SystemSpec, costModel: CostModel, slo: SLOClasses,
                                 predictor: OutputLengthPredictor? = nil) throws -> (routing: [RoutingDecision], batching: [BatchDecision]) {
        let sim = try simulate(trace: trace, system: system, costModel: costModel, slo: slo, predictor: predictor, recordDecisions: true)
        return (sim.decisions ?? [], sim.batchDecisions ?? [])
    }

    func record(_ made: [RoutingDecision]) {
        decisions?.append(contentsOf: made)
    }

    /// Records the requests instance `i` admitted from its waiting queue into one batch, those it
    /// left waiting and those already running.
    func record(admitted: [Int], on i: Int) {
        guard !admitted.isEmpty, batchDecisions != nil else { return }
        let running = Set(fleet[i].running + fleet[i].prefilling).subtracting(admitted).sorted()
        batchDecisions?.append(BatchDecision(instance: i, requests: admitted, waiting: fleet[i].prefillQueue.ordered, running: running))
    }

    /// Runs the simulation and returns the engine with its per-request record.
    static func simulate(trace: Trace, system: SystemSpec, costModel: CostModel, slo: SLOClasses,
                         predictor: OutputLengthPredictor?, recordDecisions: Bool = false) throws -> ClusterSimulator {
        try costModel.validate()
        let stats = TraceStatistics(trace: trace, rule: costModel.imageTokens)
        let capacity = costModel.capacity(meanImageTokens: stats.meanImageTokens, meanImages: stats.meanImages,
                                          meanPrompt: stats.meanPromptTokens, meanOutput: stats.meanOutputTokens)
        let horizon = max(trace.duration, 1)
        let sim = try ClusterSimulator(system: system, costModel: costModel, slo: slo, capacity: capacity,
                                       sampleInterval: max(1, horizon / 200))
        sim.horizon = horizon
        if recordDecisions {
            sim.decisions = []
            sim.batchDecisions = []
            sim.imageRoutes = []
        }
        if trace.requests.contains(where: { $0.imageGeneration != nil }), costModel.diffusion == nil {
            throw SimulationError.invalidConfig("the trace has images to generate but the cost model has no diffusion section (tessera profile --image-model)")
        }
        let defaultPrediction = max(1, Int(stats.meanOutputTokens.rounded()))
        // Prompts that name no shared prefix never hit one another, so without shared prefixes no block is hashed.
        let hashesPrompts = system.prefixCache && trace.requests.contains { $0.prefixID != nil }
        sim.requests.reserveCapacity(trace.requests.count)
        let start = trace.requests.first?.arrival ?? 0
        for (id, r) in trace.requests.enumerated() {
            let images = r.images.map { ImageInput(width: $0.width, height: $0.height, tokens: costModel.imageTokens.tokens(width: $0.width, height: $0.height), id: ImageID(number: $0.hash)) }
            var predicted = defaultPrediction
            if system.predictLengths, let predictor {
                predicted = predictor.predictedTokens(prompt: r.prompt ?? "", promptTokens: r.textTokens + images.reduce(0) { $0 + $1.tokens })
            }
            let objective: LatencySLO
            do { objective = try slo.objective(for: r.sloClass) } catch { throw SimulationError.invalidConfig("trace request \(id): \(error)") }
            var info = RequestInfo(id: id, arrival: r.arrival - start, textTokens: r.textTokens, images: images,
                                   slo: objective, predictedOutputTokens: predicted)
            if hashesPrompts {
                info.promptBlockHashes = PromptBlockHashes.chain(tokens: r.standInTokens(index: id), blockSize: KVBlock.defaultTokens,
                                                                 seed: PromptBlockHashes.seed(images: images.map(\.id)))
            }
            var request = SimulatedRequest(info: info, output: r.outputTokens)
            request.image = r.imageGeneration.map { ImageRequestInfo(id: id, arrival: info.arrival, generation: $0) }
            sim.requests.append(request)
        }
        if !sim.requests.isEmpty { sim.events.push(.arrival(0), at: sim.requests[0].info.arrival) }
        for (p, time) in sim.schedule.due.enumerated() { sim.events.push(.plannerTick(p), at: time) }
        sim.events.push(.sample, at: 0)
        sim.loop()
        return sim
    }

    func loop() {
        let deadline = horizon + 4 * 3600
        while let (time, event) = events.pop() {
            now = time
            if now > deadline { break }
            switch event {
            case let .arrival(r):
                if r + 1 < requests.count { events.push(.arrival(r + 1), at: requests[r + 1].info.arrival) }
                if requests[r].image != nil { arriveImage(r) } else { arrive(r) }
            case let .encoded(r): dispatchPrefill(r, inline: false)
            case let .encodeDone(i, v): if fleet[i].version == v { finishEncode(i) }
            case let .prefillDone(i, v): if fleet[i].version == v { finishPrefill(i) }
            case let .decodeDone(i, v): if fleet[i].version == v { finishDecode(i) }
            case let .staticDone(i, v): if fleet[i].version == v { finishStatic(i) }
            case let .joinDecode(r, i): joinDecode(r, i)
            case let .imageStepDone(i, v): if fleet[i].version == v { finishImageStep(i) }
            case let .imageDecoded(i, v):
                if fleet[i].version == v {
                    fleet[i].busy = false
                    kick(i)
                }
            case let .ready(i): becomeReady(i)
            case let .plannerTick(p): tick(p)
            case .sample: sample()
            }
        }
    }

    var allDone: Bool { done == requests.count }

    @discardableResult
    func addInstance(role: InstanceRole, group: ModalityGroup, phase: SimulatedInstance.Phase) -> Int {
        let id = fleet.count
        fleet.append(SimulatedInstance(id: id, role: role, group: group, phase: phase, launched: now,
                                       encoderCacheTokens: system.prefixCache ? cost.memory.encoderCacheTokens : 0,
                                       prefixCacheTokens: system.prefixCache ? cost.memory.prefixCacheTokens : 0,
                                       loraCacheEntries: cost.diffusion?.loraCacheEntries ?? 0))
        instances.append(InstanceStatus(id: id, role: role, group: group, isActive: phase == .active, kvCapacityTokens: cost.memory.kvCapacityTokens))
        candidateCache.removeAll()
        return id
    }

    /// Re-derives the policy-visible snapshot of an instance.
    func refresh(_ i: Int) {
        let inst = fleet[i]
        var s = instances[i]
        s.role = inst.role
        s.group = inst.group
        s.isActive = inst.phase == .active
        s.queuedRequests = inst.queuedEncodeJobs + inst.prefillQueue.count + inst.prefilling.count + inst.running.count + inst.waiting.count + inst.inFlight.count
            + inst.imageQueue.count + inst.imageRunning.count + inst.peerImages.count
        s.pendingImageTokens = inst.pendingImageTokens
        s.pendingPrefillTokens = inst.pendingPrefillTokens
        s.runningDecodes = inst.running.count
        s.kvUsedTokens = inst.kvUsed
        instances[i] = s
    }

    /// The shared stage-candidate filter (``ClusterView/candidates(for:group:)``), cached until the fleet changes.
    func candidates(_ stage: Stage, _ group: ModalityGroup) -> [Int] {
        let key = (Stage.allCases.firstIndex(of: stage) ?? 0) * 2 + (group == .text ? 0 : 1)
        if let hit = candidateCache[key] { return hit }
        let list = candidates(for: stage, group: group)
        candidateCache[key] = list
        return list
    }
}
