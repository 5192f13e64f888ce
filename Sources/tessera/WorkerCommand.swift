import ArgumentParser
import Cluster
import Engine
import Foundation
import Models
import UnixSignals
import WireProtocol
import Workers

/// `tessera worker`: one worker process of a disaggregated deployment; `tessera serve --topology`
/// starts these and they register with it.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one encode, prefill, decode, mono or image (diffusion) worker for a front end started with `tessera serve --topology`.",
        discussion: """
            The worker connects to --front-end, registers, sends heartbeats and serves what it is sent. \
            Decode workers pull prompt KV from prefill workers at their --transfer endpoints (shared memory \
            between Unix-socket endpoints, TCP payloads otherwise). The worker exits when the front end goes away. \
            On SIGTERM it drains: the front end sends it nothing new, its requests finish (or, after \
            --drain-timeout, go back to the front end to be retried on a sibling), then it exits.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "What the worker runs: encode, prefill, decode or mono (a language model), or image (a diffusion model, --image-model).")
    var role: String

    @Option(name: .customLong("image-model"), help: "An image worker's diffusers Stable Diffusion folder.")
    var imageModel: String?

    /// An image worker's add-ons; a controlnet worker takes --controlnet NAME=DIR only.
    @OptionGroup var adapters: AdapterOptions

    @Option(name: .customLong("controlnet-memory"), help: "MiB of ControlNet weights a controlnet worker keeps loaded (which go first: --adapter-cache-eviction).")
    var controlNetMemoryMiB = 4096.0

    @OptionGroup var imageLimits: ImageEngineOptions

    @Option(help: "The front end's slot number for this worker; without it the front end binds the worker to a pending slot of its role and --group (pods of a scaled pool).")
    var slot: Int?

    @Option(help: "The worker's modality group: text or multimodal.")
    var group: String?

    @Option(name: .customLong("front-end"), help: "The front end's control endpoint (unix:/path or tcp:HOST:PORT).")
    var frontEnd: String

    @Option(help: "Where peers pull KV from this worker (unix:/path, or tcp:HOST:PORT with port 0 for any).")
    var transfer: String

    @Flag(name: .customLong("no-shared-memory"), help: "Send KV as TCP payloads even between Unix-socket endpoints.")
    var noSharedMemory = false

    @Option(name: .customLong("heartbeat-interval-ms"), help: "Milliseconds between heartbeats.")
    var heartbeatIntervalMs = 200

    @Option(name: .customLong("parked-kv-timeout"), help: "Seconds parked KV waits for its decode worker before it is freed.")
    var parkedKVTimeout = 60.0

    @Option(name: .customLong("drain-timeout"),
            help: "Seconds in-flight requests may run after SIGTERM before they are handed back to the front end (below the pod's termination grace period, 30 s by default).")
    var drainTimeout = 25.0

    @Option(name: .customLong("max-model-len"), help: "Longest prompt + output in tokens (default: the model's).")
    var maxModelLength: Int?

    @OptionGroup var kvCache: KVCacheOptions<WorkerKVCacheDefault>

    @Option(name: .customLong("pipeline-units"), help: "Run only these units of a layer-split model (a:b; 0 is the embedding, L+1 the LM head) as its first stage; needs --pipeline-next.")
    var pipelineUnits: String?

    @Option(name: .customLong("pipeline-next"), help: "The next pipeline stage's endpoint (a `tessera pipeline-stage --listen`).")
    var pipelineNext: String?

    @OptionGroup var step: StepOptions

    @OptionGroup var scheduling: SchedulingOptions

    func validate() throws {
        guard let parsed = InstanceRole(rawValue: role), parsed != .encodePrefill else {
            throw ValidationError("--role must be encode, prefill, decode, mono, image or controlnet")
        }
        if (parsed == .image) != (imageModel != nil) { throw ValidationError("--image-model goes with --role image, and only there") }
        if parsed == .controlnet, adapters.controlNets.isEmpty && adapters.directories.isEmpty || !adapters.loras.isEmpty {
            throw ValidationError("a controlnet worker takes its ControlNets as --controlnet NAME=DIR or from --adapter-dir DIR (one or more), and no --lora")
        }
        if ![.image, .controlnet].contains(parsed), !adapters.isEmpty {
            throw ValidationError("--lora, --controlnet and --adapter-dir go with --role image or controlnet")
        }
        guard controlNetMemoryMiB > 0 else { throw ValidationError("--controlnet-memory must be positive") }
        if let group, ModalityGroup(rawValue: group) == nil { throw ValidationError("--group must be text, multimodal or image") }
        guard (slot ?? 0) >= 0, heartbeatIntervalMs >= 1, parkedKVTimeout > 0, drainTimeout >= 0 else {
            throw ValidationError("--slot must be >= 0, --heartbeat-interval-ms >= 1, --parked-kv-timeout > 0 and --drain-timeout >= 0")
        }
        guard (pipelineUnits == nil) == (pipelineNext == nil), pipelineUnits.map({ DecoderSlice(parsing: $0) != nil }) ?? true else {
            throw ValidationError("--pipeline-units a:b (a < b) and --pipeline-next go together")
        }
    }

    func run() async throws {
        // Trapped first: as a container's first process the worker would otherwise ignore SIGTERM
        // (the kernel's default for PID 1) and be killed at the end of the grace period. A signal
        // that comes while the model loads waits in the sequence and is answered once it has.
        let signals = await UnixSignalsSequence(trapping: .sigterm)
        try modelOptions.applyComputeSettings()
        if imageModel != nil || role == InstanceRole.controlnet.rawValue {
            var configuration = ImageWorkerConfiguration(
                slot: slot ?? WorkerHello.unbound, modelDirectory: URL(fileURLWithPath: imageModel ?? "/"), engine: try imageLimits.config(),
                frontEnd: try Endpoint(parsing: frontEnd), transfer: try Endpoint(parsing: transfer))
            configuration.role = imageModel != nil ? .image : .controlnet
            configuration.controlNets = try AdapterOptions.namedPaths(adapters.controlNets, option: "--controlnet").mapValues { URL(fileURLWithPath: $0) }
            configuration.loras = try AdapterOptions.namedPaths(adapters.loras, option: "--lora")
            configuration.adapterDirectories = adapters.directories
            configuration.adapterCacheBytes = adapters.cacheMiB << 20
            configuration.adapterCacheEviction = adapters.eviction
            configuration.controlNetMemoryBytes = Int(controlNetMemoryMiB * 1_048_576)
            configuration.group = group.flatMap(ModalityGroup.init(rawValue:))
            let environment = ProcessInfo.processInfo.environment
            configuration.podName = environment["TESSERA_POD_NAME"]
            configuration.podAddress = environment["TESSERA_POD_IP"]
            configuration.heartbeatInterval = .milliseconds(heartbeatIntervalMs)
            let worker = try ImageWorker(configuration: configuration)
            return try await serve(worker.run, drainingOn: signals) { worker.drain(timeout: $0) }
        }
        var engine = EngineConfig()
        engine.kvCacheMemoryBytes = kvCache.memoryBytes
        engine.blockSize = kvCache.blockSize
        engine.maxModelLength = maxModelLength
        engine.scheduler = step.config
        // The front end does admission control; a worker queues whatever it is sent.
        engine.maxQueuedRequests = .max
        engine.maxQueuedTokens = .max
        engine.weightQuantization = try modelOptions.quantization()
        try scheduling.apply(to: &engine)
        // An encode worker has no step loop to protect: it encodes with the whole compute pool.
        engine.backgroundImageWork = role != InstanceRole.encode.rawValue
        var configuration = WorkerConfiguration(
            role: InstanceRole(rawValue: role) ?? .mono, slot: slot ?? WorkerHello.unbound, modelDirectory: try modelOptions.modelDirectory(), engine: engine,
            frontEnd: try Endpoint(parsing: frontEnd), transfer: try Endpoint(parsing: transfer))
        configuration.sharedMemory = !noSharedMemory
        configuration.group = group.flatMap(ModalityGroup.init(rawValue:))
        // Set from the downward API in a pod template (metadata.name, status.podIP).
        let environment = ProcessInfo.processInfo.environment
        configuration.podName = environment["TESSERA_POD_NAME"]
        configuration.podAddress = environment["TESSERA_POD_IP"]
        configuration.heartbeatInterval = .milliseconds(heartbeatIntervalMs)
        configuration.parkedKVTimeout = parkedKVTimeout
        if let pipelineUnits, let units = DecoderSlice(parsing: pipelineUnits), let pipelineNext {
            configuration.pipeline = (units, try Endpoint(parsing: pipelineNext))
        }
        let worker = try Worker(configuration: configuration)
        try await serve(worker.run, drainingOn: signals) { worker.drain(timeout: $0) }
    }

    /// Runs a worker; each SIGTERM in `signals` starts its drain with --drain-timeout.
    private func serve(_ run: () async throws -> Void, drainingOn signals: UnixSignalsSequence,
                       drain: @escaping @Sendable (Duration) -> Void) async throws {
        let timeout = Duration.milliseconds(Int(drainTimeout * 1000))
        let watch = Task {
            for await _ in signals { drain(timeout) }
        }
        defer { watch.cancel() }
        try await run()
    }
}
