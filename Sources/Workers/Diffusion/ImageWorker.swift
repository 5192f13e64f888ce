import Cluster
import Diffusion
import DiffusionServing
import Foundation
import Imaging
import ServingAPI
import Synchronization
import WireProtocol

/// How a diffusion worker process runs: its slot, its model folder and engine limits, and where it
/// talks to the front end and to CFG-split peers.
public struct ImageWorkerConfiguration: Sendable {
    public var slot: Int
    public var group: ModalityGroup?
    public var podName: String?
    public var podAddress: String?
    /// A diffusers Stable Diffusion folder.
    public var modelDirectory: URL
    public var engine: DiffusionEngineConfig
    public var frontEnd: Endpoint
    /// Where CFG-split leaders send this worker unconditional UNet rows.
    public var transfer: Endpoint
    public var heartbeatInterval: Duration = .milliseconds(200)

    public init(slot: Int, modelDirectory: URL, engine: DiffusionEngineConfig, frontEnd: Endpoint, transfer: Endpoint) {
        self.slot = slot
        self.modelDirectory = modelDirectory
        self.engine = engine
        self.frontEnd = frontEnd
        self.transfer = transfer
    }
}

/// One diffusion worker process (role `image`): a ``DiffusionEngine`` with step-level batching,
/// registered with the front end like the language-model workers (heartbeats, aborts, restarts).
/// Each `generateImage` is one image; its progress and the finished image go back on the control
/// connection. Its transfer endpoint answers CFG-split leaders' unconditional rows; an image whose
/// job names a `guidancePeer` sends its own there each step.
///
/// ```swift
/// try await ImageWorker(configuration: config).run()
/// ```
public final class ImageWorker: Sendable {
    public let configuration: ImageWorkerConfiguration
    private let engine: DiffusionEngine
    private let control: Connection
    private let listener: Listener

    private struct State {
        var tasks: [Int: Task<Void, Never>] = [:]
        var peers: [Endpoint: GuidancePeerConnection] = [:]
        var registered = false
        var draining = false
        var closed = false
    }

    private let state = Mutex(State())
    private let guidanceRowsServed = Atomic<Int>(0)

    public init(configuration: ImageWorkerConfiguration) throws {
        self.configuration = configuration
        engine = DiffusionEngine(pipeline: try StableDiffusionPipeline(directory: configuration.modelDirectory), config: configuration.engine)
        control = try Connection.connect(to: configuration.frontEnd)
        listener = try Listener(endpoint: configuration.transfer)
    }

    /// Registers, serves until the front end goes away, then stops the engine.
    public func run() async throws {
        let pipeline = engine.pipeline
        listener.start(name: "tessera-image-peers") { [self] connection in
            GuidancePeerService.serve(connection, pipeline: pipeline) { self.guidanceRowsServed.add($0, ordering: .relaxed) }
        }
        var hello = WorkerHello(slot: configuration.slot, role: .image, processId: ProcessInfo.processInfo.processIdentifier,
                                transfer: listener.endpoint, kvLayout: KVLayout(layers: 0, rowWidth: 0), kvCapacityTokens: 0,
                                imagePlaceholder: nil, limits: PromptLimits(contextLength: 0, vocabSize: 0))
        hello.group = configuration.group ?? .image
        hello.podName = configuration.podName
        hello.podAddress = configuration.podAddress
        hello.imageModel = WireImageModel(defaultSize: pipeline.defaultSize, sizeMultiple: pipeline.sizeMultiple, vaeScaleFactor: pipeline.vae.scaleFactor,
                                          maxSteps: configuration.engine.maxSteps, maxPixels: configuration.engine.maxPixels)
        do { try control.send(.register(hello)) } catch { throw WorkerError.registrationFailed("\(error)") }
        // Told to drain before it had registered: the front end hears it now.
        if state.withLock({ s in s.registered = true; return s.draining }) { send(.draining) }

        let (closed, closedContinuation) = AsyncStream<Void>.makeStream()
        control.startReading(name: "tessera-image-worker-control", onMessage: { [self] message, payload in
            handle(message, payload)
        }, onClose: { _ in closedContinuation.finish() })
        let heartbeat = Task { [self] in
            while !Task.isCancelled {
                sendHeartbeat()
                try? await Task.sleep(for: configuration.heartbeatInterval)
            }
        }
        for await _ in closed {}
        heartbeat.cancel()
        let (tasks, peers) = state.withLock { s in
            s.closed = true
            return (Array(s.tasks.values), Array(s.peers.values))
        }
        tasks.forEach { $0.cancel() }
        peers.forEach { $0.close() }
        listener.close()
        await engine.shutdown(gracePeriod: .zero)
    }

    private func handle(_ message: WireMessage, _ payload: Data) {
        switch message {
        case let .generateImage(id, job):
            let task = Task { [self] in
                do {
                    try await generate(id, job, payload)
                } catch is CancellationError {
                } catch let error as ImageGenerationError {
                    send(.imageFailed(request: id, WireImageError(error)))
                } catch {
                    send(.imageFailed(request: id, .invalidRequest(message: "\(error)", param: nil)))
                }
                state.withLock { _ = $0.tasks.removeValue(forKey: id) }
            }
            state.withLock { s in
                guard !s.closed else { return task.cancel() }
                s.tasks[id] = task
            }
        case let .abort(id): state.withLock { $0.tasks[id] }?.cancel()
        default: break
        }
    }

    private func generate(_ id: Int, _ job: WireImageJob, _ payload: Data) async throws {
        var request = TextToImageRequest(
            prompt: job.prompt, negativePrompt: job.negativePrompt, steps: job.steps, guidanceScale: job.guidanceScale,
            scheduler: try job.scheduler.map { name in
                guard let kind = SchedulerKind(rawValue: name) else { throw ImageGenerationError.invalidRequest("unknown scheduler '\(name)'", param: "scheduler") }
                return kind
            },
            width: job.width, height: job.height, seed: job.seed, strength: job.strength)
        if let image = job.initImage { request.initImage = try WireImages.unpack([image], payload)[0] }
        if let endpoint = job.guidancePeer { request.guidancePeer = try peer(endpoint) }
        // Ending the iteration (an abort cancels this task) cancels the image at its next step boundary.
        for try await event in try engine.submit([request]) {
            switch event {
            case let .progress(_, step, total, _): send(.imageProgress(request: id, step: step, total: total))
            case let .image(_, image, timing):
                send(.imageGenerated(request: id, WireGeneratedImage(width: image.width, height: image.height, latentShape: image.latentShape,
                                                                      secondsPerStep: timing.secondsPerStep)),
                     payload: WireFloats.pack([image.latents, image.image]))
            }
        }
    }

    /// Leaves as a language-model worker does on SIGTERM (``Worker/drain(timeout:)``): the front
    /// end sends nothing new and lets it go once its images finished; after `timeout` the worker
    /// closes its connection and the front end replays what still runs on another worker.
    public func drain(timeout: Duration) {
        let (first, registered) = state.withLock { s in
            defer { s.draining = true }
            return (!s.draining && !s.closed, s.registered)
        }
        guard first else { return }
        if registered { send(.draining) }
        Task { [control] in
            try? await Task.sleep(for: timeout)
            control.closeAfterQueuedFrames()
            try? await Task.sleep(for: .seconds(2))
            control.close()
        }
    }

    /// The connection to a CFG-split peer, opened on first use and again after it closed.
    private func peer(_ endpoint: Endpoint) throws -> GuidancePeerConnection {
        if let open = state.withLock({ $0.peers[endpoint] }), !open.isClosed { return open }
        let connection = try GuidancePeerConnection(endpoint: endpoint)
        state.withLock { $0.peers[endpoint] = connection }
        return connection
    }

    private func sendHeartbeat() {
        let statistics = engine.statistics()
        var load = WorkerLoad(role: .image, statistics: WireStatistics(EngineStatistics()))
        load.running = statistics.runningImages
        load.waiting = statistics.waitingImages
        load.finishedImages = statistics.finishedImages
        load.batchedCalls = statistics.batchedCalls
        load.batchedSteps = statistics.batchedSteps
        load.guidanceRowsServed = guidanceRowsServed.load(ordering: .relaxed)
        send(.heartbeat(load))
    }

    private func send(_ message: WireMessage, payload: Data = Data()) {
        try? control.send(message, payload: payload)
    }
}

extension WireImageError {
    /// The engine's refusal on the wire (the front end reads it back as ``ImageGenerationError``).
    public init(_ error: ImageGenerationError) {
        switch error {
        case let .overloaded(seconds): self = .overloaded(retryAfterSeconds: seconds)
        case let .invalidRequest(message, param): self = .invalidRequest(message: message, param: param)
        case .shuttingDown: self = .shuttingDown
        case let .failed(message): self = .failed(message)
        }
    }
}
