import Cluster
import CoreUtilities
import Foundation
import Logging
import Metrics
import ServingAPI
import Synchronization
import Tokenizers
import WireProtocol

/// The disaggregated server's front end: starts the topology's workers, supervises them
/// (registration, heartbeats, restarts), and serves requests through them with the same
/// ``InferenceEngine`` interface as the single-process engine, so the OpenAI server runs on it unchanged.
///
/// A request goes to its modality group; with prefill and decode workers its prompt KV is computed
/// on a prefill worker and pulled by a decode worker, otherwise a mono worker runs it whole. Routing
/// calls the Cluster policies on a ``ClusterView`` of the live workers.
///
/// ```swift
/// let frontEnd = try ClusterFrontEnd(topology: topology, options: options, provider: LocalProcessProvider(executable: tessera))
/// try await frontEnd.start()
/// let service = try OpenAIService(engine: frontEnd, configuration: ServerConfiguration())
/// ```
public final class ClusterFrontEnd: InferenceEngine, @unchecked Sendable {
    /// The served model; its image placeholder is learned from the first worker that registers.
    public var servedModel: ServedModel { shared.withLock { $0.servedModel } }
    public let topology: Topology
    public let options: FrontEndOptions
    let provider: any InstanceProvider
    /// The topology's router and encode dispatcher, from the ``PolicyCatalog``.
    let router: any RequestRouter
    let dispatcher: any EncodeDispatcher
    let imageRouter: any ImageRouter
    let listener: Listener
    let started = ContinuousClock.now
    /// Image requests on the topology's diffusion workers.
    let imageRequests = ImageRequestTable()
    /// Worker losses, relaunches and request retries are logged here.
    let logger = Logger(label: "tessera.frontend")

    struct RequestChannel {
        var events: AsyncStream<SlotEvent>.Continuation
        /// The worker running the request's current step.
        var slot: Int?
        /// KV parked for the request on a prefill worker and not yet known to be pulled.
        var parked: (slot: Int, handle: Int)?
        var promptTokens: Int
        var arrival = ContinuousClock.now
        var waitingForFirstToken = true
        /// The request as the policies see it, once routed.
        var info: RequestInfo?
        var firstTokenAt: ContinuousClock.Instant?
        var generated = 0
        /// Whether the fleet schedule has counted the request's end (met or missed its SLO).
        var counted = false
    }

    struct State {
        var servedModel: ServedModel
        var limits = PromptLimits(contextLength: 0, vocabSize: 0)
        /// Tokens per KV block on the workers, as the first to register says.
        var blockSize = KVBlock.defaultTokens
        var engineState = EngineState.ready
        var slots: [WorkerSlot] = []
        var requests: [Int: RequestChannel] = [:]
        var nextRequestId = 0
        var queuedRequests = 0
        var queuedTokens = 0
        var retries = 0
        /// Relaunches of dead workers, by the role they were relaunched in.
        var workerRestarts: [InstanceRole: Int] = [:]
        var roleSwitches = 0
        /// Counters of workers that were replaced, so totals survive restarts.
        var retiredStatistics = EngineStatistics()
        var retiredTransfer = TransferTotals()
        var tasks: [Task<Void, Never>] = []
        /// The fleet planners, each on its own interval and load window.
        var schedule = FleetSchedule(planners: [], start: 0)
        /// How the workers' model turns an image's size into prompt tokens, as the first to register says.
        var imageTokenRule: ImageTokenRule?
        /// Image hashes each slot has prefilled, for cache-aware routing; forgotten when the worker is lost.
        var cachedImages: [Int: Set<ImageID>] = [:]
        /// Prompt blocks each slot has prefilled, likewise.
        var cachedPrefixes: [Int: PrefixCacheIndex] = [:]
        /// Externally scaled: the workers per pool the planners asked for in their last round.
        var desiredReplicas: [String: Int] = [:]
        /// Requests finished per group since the pool gauges were last set, and how many met their SLO.
        var sloOutcomes: [ModalityGroup: (met: Int, total: Int)] = [:]

        mutating func countSLO(met: Bool, group: ModalityGroup) {
            sloOutcomes[group, default: (0, 0)].total += 1
            if met { sloOutcomes[group, default: (0, 0)].met += 1 }
        }
    }

    let shared: Mutex<State>

    public init(topology: Topology, options: FrontEndOptions, provider: any InstanceProvider) throws {
        try topology.validate()
        self.topology = topology
        self.options = options
        self.provider = provider
        let directory = options.modelDirectory
        let tokenizer = try Tokenizer.load(directory: directory)
        // Context length, vocabulary and image placeholder come from the first worker that registers.
        shared = Mutex(State(servedModel: ServedModel(
            name: options.servedModelName ?? directory.standardizedFileURL.lastPathComponent, contextLength: 0,
            tokenizer: tokenizer, chatTemplate: tokenizer.chatTemplate, imagePlaceholder: nil)))
        router = try PolicyCatalog.router(topology.policies.router)
        dispatcher = try PolicyCatalog.encodeDispatcher(topology.policies.encodeDispatcher)
        imageRouter = try PolicyCatalog.imageRouter(topology.policies.imageRouter)
        let planners = try topology.policies.planners.map { try PolicyCatalog.planner($0, capacity: topology.capacity) }
        let control = try topology.control.map { text throws(TransportError) in try Endpoint(parsing: text) }
            ?? (topology.transfer == .tcp ? .tcp(host: "127.0.0.1", port: 0)
                : .unix(path: options.runtimeDirectory.appendingPathComponent("control.sock").path))
        listener = try Listener(endpoint: control)
        shared.withLock { $0.schedule = FleetSchedule(planners: planners, start: 0) }
    }

    public var state: EngineState { shared.withLock { $0.engineState } }

    /// Why some requests cannot be served now: each group stage that no registered worker runs,
    /// with what its slots are doing (see ``InferenceEngine/unavailableReason``). Externally scaled,
    /// every pool the topology declares is a stage its group needs, also when none of its pods is left.
    public var unavailableReason: String? {
        let now = ContinuousClock.now
        return shared.withLock { s -> String? in
            var missing: [String] = []
            for spec in topology.groups {
                let group = spec.group
                let slots = s.slots.filter { $0.group == group && $0.phase != .stopped && $0.phase != .retiring }
                let pools = provider.scaledExternally ? spec.workers.map(\.role) : []
                for stage in Stage.allCases where (slots.contains { $0.role.runs(stage) } || pools.contains { $0.runs(stage) })
                    && !slots.contains(where: { $0.isActive && $0.role.runs(stage) }) {
                    var why = slots.filter { $0.role.runs(stage) }.map { slot in
                        var text = "slot \(slot.id) \(slot.phase == .starting ? "starting" : slot.phase == .leaving ? "leaving" : "switching")"
                        if let failure = slot.lastFailure { text += " after \(slot.failures) failure\(slot.failures == 1 ? "" : "s") in a row: \(failure)" }
                        if let next = slot.relaunchAt { text += String(format: ", relaunch in %.1f s", max(0, (next - now).seconds)) }
                        return text
                    }
                    if why.isEmpty {
                        why = pools.filter { $0.runs(stage) }.map { "no pod of pool \(provider.poolName(group: group, role: $0)) is registered" }
                    }
                    missing.append("group \(group.rawValue) has no live \(stage.rawValue) worker (\(why.joined(separator: "; ")))")
                }
            }
            return missing.isEmpty ? nil : missing.joined(separator: "; ")
        }
    }

    /// Launches every worker and returns once all have registered.
    public func start() async throws {
        listener.start(name: "tessera-control") { [weak self] connection in self?.accept(connection) }
        for (index, entry) in topology.slots.enumerated() {
            var slot = WorkerSlot(id: index, role: entry.spec.role, group: entry.group,
                                  spec: instanceSpec(slot: index, role: entry.spec.role, group: entry.group, worker: entry.spec))
            if let stages = entry.spec.pipeline { try split(&slot, over: stages, worker: entry.spec) }
            shared.withLock { [slot] in $0.slots.append(slot) }
            try launch(index)
        }
        let deadline = ContinuousClock.now + options.startupTimeout
        while shared.withLock({ s in s.slots.contains { $0.phase == .starting } }) {
            guard ContinuousClock.now < deadline else {
                let missing = shared.withLock { s in s.slots.filter { $0.phase == .starting }.map(\.id) }
                await stopWorkers()
                throw FrontEndError.startupTimedOut("slots \(missing) (see the worker logs in \(options.runtimeDirectory.path))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        startSupervision()
        startPoolMetrics()
        if let split = topology.chosenSplit {
            for (role, count) in zip(Topology.splitRoles, [split.encode, split.prefill, split.decode]) {
                Gauge(label: "tessera:epd_split_workers", dimensions: [("role", role.rawValue)]).record(count)
            }
            Gauge(label: "tessera:epd_split_prefill_batch_limit").record(split.maxBatch)
        }
    }

    /// Worker slots as the policies see them.
    public func clusterStatus() -> [InstanceStatus] {
        shared.withLock { s in liveCluster(s).instances }
    }

    /// The process id of the worker in `slot`, for tests and operators.
    public func workerProcessId(slot: Int) -> Int32? {
        shared.withLock { s in s.slots.indices.contains(slot) ? s.slots[slot].hello?.processId : nil }
    }

    /// Restarts so far of the worker in `slot`.
    public func restarts(slot: Int) -> Int {
        shared.withLock { s in s.slots.indices.contains(slot) ? s.slots[slot].restarts : 0 }
    }

    /// The images routing remembers in the prefix and encoder caches of the worker in `slot`.
    public func cachedImages(slot: Int) -> Set<ImageID> {
        shared.withLock { $0.cachedImages[slot] ?? [] }
    }

    /// Encoder-cache lookups and hits the worker in `slot` reported last.
    public func encoderCacheCounters(slot: Int) -> (queries: Int, hits: Int) {
        shared.withLock { s in
            guard s.slots.indices.contains(slot), let stats = s.slots[slot].load?.statistics else { return (0, 0) }
            return (stats.encoderCacheQueries, stats.encoderCacheHits)
        }
    }

    /// Requests retried on a sibling after a worker was lost.
    public var retriedRequests: Int { shared.withLock { $0.retries } }

    /// Completed role switches.
    public var completedRoleSwitches: Int { shared.withLock { $0.roleSwitches } }

    /// What the worker in `slot` has moved so far, as its last heartbeat said.
    public func transferTotals(slot: Int) -> TransferTotals {
        shared.withLock { s in s.slots.indices.contains(slot) ? TransferTotals(s.slots[slot].load) : TransferTotals() }
    }

    /// KV moved between workers so far.
    public func transferTotals() -> TransferTotals {
        shared.withLock { s in
            s.slots.reduce(s.retiredTransfer) { total, slot in total + TransferTotals(slot.load) }
        }
    }

    public func statistics() -> EngineStatistics {
        shared.withLock { s in
            var total = s.retiredStatistics
            var usage = 0.0, kvSlots = 0
            for slot in s.slots {
                guard let load = slot.load?.statistics else { continue }
                total.runningRequests += load.runningRequests
                total.waitingRequests += load.waitingRequests
                total.prefixCacheQueriedTokens += load.prefixCacheQueriedTokens
                total.prefixCacheHitTokens += load.prefixCacheHitTokens
                total.preemptions += load.preemptions
                total.encoderCacheQueries += load.encoderCacheQueries
                total.encoderCacheHits += load.encoderCacheHits
                total.promptTokens += load.promptTokens
                total.generatedTokens += load.generatedTokens
                usage += load.kvCacheUsage
                kvSlots += 1
            }
            // Requests the front end admitted and has not yet seen a first token of wait too.
            total.waitingRequests += s.queuedRequests
            total.kvCacheUsage = kvSlots > 0 ? usage / Double(kvSlots) : 0
            let transfer = s.slots.reduce(s.retiredTransfer) { $0 + TransferTotals($1.load) }
            total.kvTransferBytes = transfer.bytesReceived
            total.kvTransfers = transfer.transfers
            total.kvTransferMicroseconds = Int(transfer.seconds * 1e6)
            total.requestRetries = s.retries
            // Every role the fleet runs is listed, so the counters exist at 0 before a first restart.
            for role in Set(s.slots.map(\.role)).union(s.workerRestarts.keys) {
                total.workerRestarts[role.rawValue] = s.workerRestarts[role, default: 0]
            }
            return total
        }
    }

    public func shutdown(gracePeriod: Duration) async {
        shared.withLock { if $0.engineState == .ready { $0.engineState = .draining } }
        let deadline = ContinuousClock.now + gracePeriod
        while ContinuousClock.now < deadline, shared.withLock({ !$0.requests.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let (channels, tasks) = shared.withLock { s in
            s.engineState = .stopped
            return (Array(s.requests.values), s.tasks)
        }
        for channel in channels { channel.events.finish() }
        tasks.forEach { $0.cancel() }
        await stopWorkers()
        listener.close()
        if options.removeRuntimeDirectory { try? FileManager.default.removeItem(at: options.runtimeDirectory) }
    }

    /// Closes every worker connection (workers exit when it closes), then stops what is left.
    func stopWorkers() async {
        let slots = shared.withLock { s in
            for i in s.slots.indices { s.slots[i].phase = .stopped }
            return s.slots
        }
        for slot in slots { slot.connection?.close() }
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline, slots.contains(where: { $0.handle.map(provider.isAlive) ?? false }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for slot in slots {
            if let handle = slot.handle { provider.stop(handle, force: true) }
            for handle in slot.stageHandles { provider.stop(handle, force: true) }
        }
        await provider.finishStopping()
    }

    func instanceSpec(slot: Int, role: InstanceRole, group: ModalityGroup, worker: Topology.WorkerSpec) -> InstanceSpec {
        let transfer = worker.transfer ?? (topology.transfer == .tcp ? "tcp:127.0.0.1:0"
            : "unix:" + options.runtimeDirectory.appendingPathComponent("kv-\(slot).sock").path)
        var arguments = ["worker", "--role", role.rawValue, "--slot", String(slot), "--model", options.modelDirectory.path,
                         "--front-end", listener.endpoint.description, "--transfer", transfer,
                         "--heartbeat-interval-ms", String(topology.heartbeatIntervalMs)]
        if let maxModelLength = options.maxModelLength { arguments += ["--max-model-len", String(maxModelLength)] }
        if topology.transfer == .tcp { arguments.append("--no-shared-memory") }
        // The topology's batcher orders every worker's waiting queue, and its step-time target cuts their steps.
        arguments += ["--batch-policy", topology.policies.batcher, "--step-time-target-ms", String(topology.policies.stepTimeTargetMs)]
        if role == .image, let images = options.imageModelDirectory {
            arguments += ["--image-model", images.path] + options.imageWorkerArguments + ["--image-batcher", topology.policies.imageBatcher]
        }
        if role == .controlnet { arguments += options.controlNetWorkerArguments }
        arguments += options.workerArguments + (worker.arguments ?? [])
        return InstanceSpec(slot: slot, role: role, group: group, arguments: arguments, launcher: worker.launcher ?? [])
    }

    func liveCluster(_ s: State) -> LiveCluster {
        // Decode tokens still expected of each request decoding on a worker: its predicted output
        // length less what it has generated, as the simulator counts them.
        let predicted = s.requests.mapValues { channel in max(0, (channel.info?.predictedOutputTokens ?? 0) - channel.generated) }
        return LiveCluster(now: clock(), slots: s.slots, predictedDecodeTokens: predicted, cachedImages: s.cachedImages, cachedPrefixes: s.cachedPrefixes)
    }

    /// Seconds since the front end started: the cluster clock the policies see.
    func clock() -> Double { (ContinuousClock.now - started).seconds }
}

/// KV bytes moved between workers and the time the pulls took.
public struct TransferTotals: Sendable, Hashable {
    public var bytesSent = 0
    public var bytesReceived = 0
    public var seconds = 0.0
    public var transfers = 0

    public init() {}

    init(_ load: WorkerLoad?) {
        guard let load else { return }
        bytesSent = load.kvBytesSent
        bytesReceived = load.kvBytesReceived
        seconds = load.kvTransferSeconds
        transfers = load.kvTransfers
    }

    static func + (a: TransferTotals, b: TransferTotals) -> TransferTotals {
        var sum = a
        sum.bytesSent += b.bytesSent
        sum.bytesReceived += b.bytesReceived
        sum.seconds += b.seconds
        sum.transfers += b.transfers
        return sum
    }
}
