import Cluster
import Diffusion
import DiffusionServing
import Foundation
import Imaging
import ServingAPI
import Synchronization
import WireProtocol

/// How a diffusion worker process runs: its role (`image`: the denoising engine; `controlnet`: a
/// ControlNet service), its slot, its model folder and engine limits or its ControlNets and their
/// memory budget, and where it talks to the front end and to its peers.
public struct ImageWorkerConfiguration: Sendable {
    public var role: InstanceRole = .image
    public var slot: Int
    public var group: ModalityGroup?
    public var podName: String?
    public var podAddress: String?
    /// A diffusers Stable Diffusion folder.
    public var modelDirectory: URL
    public var engine: DiffusionEngineConfig
    public var frontEnd: Endpoint
    /// Where CFG-split leaders send this worker unconditional UNet rows, and diffusion workers a
    /// `controlnet` worker their residual calls.
    public var transfer: Endpoint
    public var heartbeatInterval: Duration = .milliseconds(200)
    /// A `controlnet` worker's ControlNets by name, and the bytes of them it keeps loaded; an
    /// `image` worker's in-process ControlNets (run when a job names no ControlNet service).
    public var controlNets: [String: URL] = [:]
    public var controlNetMemoryBytes = 4 << 30
    /// An `image` worker's LoRAs by name (safetensors files), folders scanned for LoRAs and
    /// ControlNets (a `controlnet` worker takes the ControlNets), and the bytes of loaded add-ons
    /// an `image` worker keeps (``AdapterRegistry``).
    public var loras: [String: String] = [:]
    public var adapterDirectories: [String] = []
    public var adapterCacheBytes = 1 << 30
    public var adapterCacheEviction = AdapterCache.Eviction.lru

    public init(slot: Int, modelDirectory: URL, engine: DiffusionEngineConfig, frontEnd: Endpoint, transfer: Endpoint) {
        self.slot = slot
        self.modelDirectory = modelDirectory
        self.engine = engine
        self.frontEnd = frontEnd
        self.transfer = transfer
    }
}

/// One diffusion worker process (role `image`): a ``DiffusionEngine`` with step-level batching,
/// registered with the front end by a ``WorkerSession`` like the language-model workers
/// (heartbeats, aborts, drain, restarts).
/// Each `generateImage` is one image; its progress and the finished image go back on the control
/// connection. Its transfer endpoint answers CFG-split leaders' unconditional rows (with the
/// LoRAs they name from this worker's registry, and the ControlNet residuals they carry); an image
/// whose job names a `guidancePeer` sends its own there each step. A job's LoRAs and ControlNets are
/// named from the worker's ``AdapterRegistry`` (reported at registration); with a
/// `controlNetService` its ControlNets run on that `controlnet` worker instead.
///
/// A `controlnet` worker (Katz/SwiftDiffusion §ControlNet-as-a-Service) loads no pipeline: it keeps
/// the ControlNets of its registry resident within its memory budget (``ResidentControlNets``) and
/// answers diffusion workers' per-step residual calls on its transfer endpoint.
///
/// ```swift
/// try await ImageWorker(configuration: config).run()
/// ```
public final class ImageWorker: Sendable {
    public let configuration: ImageWorkerConfiguration
    private let engine: DiffusionEngine?
    private let controlNets: ResidentControlNets?
    private let session: WorkerSession
    private let listener: Listener

    private let peers = Mutex<[Endpoint: GuidancePeerConnection]>([:])
    private let controlNetServices = Mutex<[Endpoint: ControlNetServiceConnection]>([:])
    private let guidanceRowsServed = Atomic<Int>(0)
    /// Numbers the connections of CFG-split leaders (their images are numbered per connection).
    private let links = Atomic<Int>(0)
    private let controlNetCalls = Atomic<Int>(0)

    public init(configuration: ImageWorkerConfiguration) throws {
        self.configuration = configuration
        let registry = try AdapterRegistry(loras: configuration.loras, controlNets: configuration.controlNets.mapValues(\.path),
                                           directories: configuration.adapterDirectories, cacheBytes: configuration.adapterCacheBytes,
                                           eviction: configuration.adapterCacheEviction)
        if configuration.role == .controlnet {
            // The ControlNets named and those the folders hold (their LoRAs are for image workers).
            let named = registry.entries.filter { $0.kind == .controlNet }
            guard !named.isEmpty else {
                throw DiffusionError.invalidArgument("a controlnet worker needs ControlNets: --controlnet NAME=DIR, or an --adapter-dir holding ControlNet folders")
            }
            engine = nil
            controlNets = ResidentControlNets(registry: Dictionary(uniqueKeysWithValues: named.map { ($0.name, URL(fileURLWithPath: $0.path)) }),
                                              budgetBytes: configuration.controlNetMemoryBytes, eviction: configuration.adapterCacheEviction)
        } else {
            engine = DiffusionEngine(pipeline: try StableDiffusionPipeline(directory: configuration.modelDirectory), config: configuration.engine,
                                     registry: registry)
            controlNets = nil
        }
        session = try WorkerSession(frontEnd: configuration.frontEnd)
        listener = try Listener(endpoint: configuration.transfer)
    }

    /// Registers, serves until the front end goes away, then stops the engine.
    public func run() async throws {
        listener.start(name: "tessera-image-peers") { [self] connection in
            let link = links.add(1, ordering: .relaxed).oldValue
            connection.startReading(name: "tessera-diffusion-peer", onMessage: { message, payload in
                switch message {
                case let .predictNoise(call, header):
                    guard let engine = self.engine else { return }
                    GuidancePeerService.answer(call, header, payload, on: connection, link: link, engine: engine) {
                        self.guidanceRowsServed.add($0, ordering: .relaxed)
                    }
                case let .endGuidance(image):
                    self.engine?.endGuests([GuestImage(link: link, image: image)])
                case let .controlResiduals(call, header):
                    guard let controlNets = self.controlNets else { return }
                    controlNets.answer(call, header, payload, on: connection)
                    self.controlNetCalls.add(1, ordering: .relaxed)
                default: break
                }
            }, onClose: { _ in
                // A leader gone (or restarted) sends no last rows: its images end here.
                self.engine?.endGuests(link: link)
            })
        }
        var hello = WorkerHello(slot: configuration.slot, role: configuration.role, processId: ProcessInfo.processInfo.processIdentifier,
                                transfer: listener.endpoint, kvLayout: KVLayout(layers: 0, rowWidth: 0), kvCapacityTokens: 0,
                                imagePlaceholder: nil, limits: PromptLimits(contextLength: 0, vocabSize: 0))
        hello.group = configuration.group ?? .image
        hello.podName = configuration.podName
        hello.podAddress = configuration.podAddress
        if let pipeline = engine?.pipeline {
            hello.imageModel = WireImageModel(defaultSize: pipeline.defaultSize, sizeMultiple: pipeline.sizeMultiple, vaeScaleFactor: pipeline.vae.scaleFactor,
                                              maxSteps: configuration.engine.maxSteps, maxPixels: configuration.engine.maxPixels,
                                              maxQueuedImages: configuration.engine.maxQueuedImages, secondTextEncoder: pipeline.textEncoder2 != nil,
                                              defaultGuidanceScale: pipeline.defaultGuidanceScale, scheduler: pipeline.folderScheduler.rawValue)
        }
        if let registry = engine?.registry {
            hello.adapters = WireAdapterNames(loras: registry.entries.filter { $0.kind == .lora }.map(\.name),
                                              controlNets: registry.entries.filter { $0.kind == .controlNet }.map(\.name))
        } else if let controlNets {
            hello.adapters = WireAdapterNames(controlNets: controlNets.registry.keys.sorted())
        }
        try await session.run(registering: hello, readerName: "tessera-image-worker-control", heartbeatEvery: configuration.heartbeatInterval,
                              heartbeat: { [self] in load() }, handle: { [self] in handle($0, $1) })
        peers.withLock { Array($0.values) }.forEach { $0.close() }
        controlNetServices.withLock { Array($0.values) }.forEach { $0.close() }
        listener.close()
        await engine?.shutdown(gracePeriod: .zero)
    }

    private func handle(_ message: WireMessage, _ payload: Data) {
        switch message {
        case let .generateImage(id, job):
            session.start(id, failed: { error in
                .imageFailed(request: id, (error as? ImageGenerationError).map(WireImageError.init)
                    ?? .invalidRequest(message: "\(error)", param: nil))
            }) { [self] in try await generate(id, job, payload) }
        default: break
        }
    }

    private func generate(_ id: Int, _ job: WireImageJob, _ payload: Data) async throws {
        var request = TextToImageRequest(job.parameters, scheduler: try job.scheduler.map { name in
            guard let kind = SchedulerKind(rawValue: name) else { throw ImageGenerationError.invalidRequest("unknown scheduler '\(name)'", param: "scheduler") }
            return kind
        })
        request.schedulerOverrides = SchedulerOverrides(useKarrasSigmas: job.useKarrasSigmas, timestepSpacing: try job.timestepSpacing.map { name in
            guard let spacing = TimestepSpacing(rawValue: name) else {
                throw ImageGenerationError.invalidRequest("unknown timestep_spacing '\(name)'", param: "timestep_spacing")
            }
            return spacing
        })
        let controls = job.controlNets ?? []
        var images = try WireImages.unpack((job.initImage.map { [$0] } ?? []) + controls.map(\.image), payload)
        if job.initImage != nil { request.initImage = images.removeFirst() }
        if let endpoint = job.guidancePeer { request.guidancePeer = try peer(endpoint).image(loras: job.loras ?? []) }
        guard let engine else { throw ImageGenerationError.invalidRequest("a controlnet worker generates no images", param: nil) }
        var named = PipelineImageRequest(request, loras: job.loras ?? [],
                                         previews: ImagePreviews(interval: job.previewInterval ?? 0, partialImages: job.partialImages ?? 0))
        if let endpoint = job.controlNetService {
            // Run by a `controlnet` worker: each step's residuals come back over its connection.
            let service = try controlNetService(endpoint)
            named.request.controlNets = zip(controls, images).map { control, picture in
                ControlNetRequest(controlNet: RemoteControlNet(name: control.name, service: service), image: picture,
                                  scale: control.scale, start: control.start, end: control.end)
            }
        } else {
            named.controlNets = zip(controls, images).map { control, picture in
                ControlNetUse(name: control.name, image: picture, scale: control.scale, start: control.start, end: control.end)
            }
        }
        // Ending the iteration (an abort cancels this task) cancels the image at its next step boundary.
        for try await event in try engine.submit([named]) {
            switch event {
            case let .progress(_, step, total, _, preview):
                let (pictures, pixels) = WireImages.pack(preview.map { [$0] } ?? [])
                send(.imageProgress(request: id, step: step, total: total, preview: pictures.first), payload: pixels)
            case let .image(_, image, timing):
                send(.imageGenerated(request: id, WireGeneratedImage(width: image.width, height: image.height, latentShape: image.latentShape,
                                                                      timing: timing)),
                     payload: WireFloats.pack([image.latents, image.image]))
            }
        }
    }

    /// Leaves as ``WorkerSession/drain(timeout:)`` says: the front end sends nothing new and lets
    /// it go once its images finished; after `timeout` the worker closes its connection and the
    /// front end replays what still runs on another worker.
    public func drain(timeout: Duration) { session.drain(timeout: timeout) }

    /// The connection to a CFG-split peer, opened on first use and again after it closed.
    private func peer(_ endpoint: Endpoint) throws -> GuidancePeerConnection {
        if let open = peers.withLock({ $0[endpoint] }), !open.isClosed { return open }
        let connection = try GuidancePeerConnection(endpoint: endpoint)
        peers.withLock { $0[endpoint] = connection }
        return connection
    }

    /// The connection to a `controlnet` worker, opened on first use and again after it closed.
    private func controlNetService(_ endpoint: Endpoint) throws -> ControlNetServiceConnection {
        if let open = controlNetServices.withLock({ $0[endpoint] }), !open.isClosed { return open }
        let connection = try ControlNetServiceConnection(endpoint: endpoint)
        controlNetServices.withLock { $0[endpoint] = connection }
        return connection
    }

    private func load() -> WorkerLoad {
        var statistics = engine?.statistics() ?? ImageEngineStatistics()
        if let resident = controlNets?.statistics { statistics.controlNetCache = AdapterCacheCounters(hits: resident.hits, misses: resident.loads) }
        var load = WorkerLoad(role: configuration.role, statistics: EngineStatistics())
        load.running = statistics.runningImages
        load.waiting = statistics.waitingImages
        load.images = statistics
        load.guidanceRowsServed = guidanceRowsServed.load(ordering: .relaxed)
        load.controlNetCalls = controlNetCalls.load(ordering: .relaxed)
        load.cachedLoRAs = engine?.registry.cachedNames(.lora) ?? []
        return load
    }

    private func send(_ message: WireMessage, payload: Data = Data()) { session.send(message, payload: payload) }
}

extension WireImageError {
    /// The engine's refusal on the wire (the front end reads it back as ``ImageGenerationError``).
    public init(_ error: ImageGenerationError) {
        switch error {
        case let .overloaded(seconds): self = .overloaded(retryAfterSeconds: seconds)
        case let .invalidRequest(message, param): self = .invalidRequest(message: message, param: param)
        case let .adapterNotFound(message, param): self = .adapterNotFound(message: message, param: param)
        case .shuttingDown: self = .shuttingDown
        case let .failed(message): self = .failed(message)
        }
    }
}
