import Cluster
import CoreUtilities
import Engine
import Foundation
import Imaging
import ServingAPI
import Synchronization
import WireProtocol

/// One worker process: an `LLMEngine` serving a stage (`encode`, `prefill`, `decode`) or everything
/// (`mono`), registered with the front end by its ``WorkerSession``.
///
/// An encode worker loads only the vision encoder and holds its outputs until prefill workers pull
/// them; prefill and decode workers load the language model (see `WorkerConfiguration.modelParts`).
///
/// A prefill worker parks each prompt's KV and reports its handle; a decode worker pulls that KV
/// from the prefill worker when it takes the request, then streams tokens back to the front end.
/// The worker exits when the front end's connection closes. On `drain(timeout:)` (SIGTERM) it
/// leaves as ``WorkerSession/drain(timeout:)`` says; the front end closes the connection once its
/// requests finished and its parked KV was pulled.
///
/// ```swift
/// let worker = try Worker(configuration: config)
/// try await worker.run()
/// ```
public final class Worker: Sendable {
    public let configuration: WorkerConfiguration
    private let engine: LLMEngine
    private let session: WorkerSession
    private let transfers: TransferServer
    private let features: FeatureStore
    private let client: TransferClient
    private let counters = TransferCounters()
    private let transferEndpoint: Endpoint
    private let batches = BatchReporter()

    private struct State {
        var role: InstanceRole
        /// Prompt tokens of requests admitted and not yet through prefill.
        var pendingPrefill: [Int: Int] = [:]
        var switchingTo: InstanceRole?
    }

    private let state: Mutex<State>

    public init(configuration: WorkerConfiguration) throws {
        guard configuration.role != .encodePrefill, configuration.role != .image, configuration.role != .controlnet else {
            throw WorkerError.unsupportedRole(configuration.role)
        }
        self.configuration = configuration
        // A pipeline's later stages first: the engine takes as many KV blocks as they all hold.
        let link = try configuration.pipeline.map { pipeline in
            guard configuration.role == .mono else { throw WorkerError.pipelineNeedsMono(configuration.role) }
            return try StageLink(connecting: pipeline.next, nextUnit: pipeline.units.units.upperBound, blockSize: configuration.engine.blockSize,
                                 sharedMemory: configuration.sharedMemory, within: configuration.pipelineTimeout)
        }
        var engineConfig = configuration.engine
        engineConfig.firstRequestID = Int.random(in: 0 ..< 1 << 48)
        engineConfig.onStep = { [batches, onStep = engineConfig.onStep] step in
            onStep?(step)
            batches.report(step)
        }
        engine = try LLMEngine(directory: configuration.modelDirectory, config: engineConfig, parts: configuration.modelParts,
                               firstStage: link.map { PipelineFirstStage(units: configuration.pipeline!.units, next: $0) })
        // The front end first: without it there is nothing to serve, and no socket file is left behind.
        session = try WorkerSession(frontEnd: configuration.frontEnd)
        batches.attach(session)
        // Without its later stages the worker cannot serve: it leaves, and the front end relaunches the pipeline.
        link?.onLost.withLock { [session] in $0 = { _ in session.close() } }
        link?.watch(every: configuration.heartbeatInterval)
        let listener = try Listener(endpoint: configuration.transfer)
        transferEndpoint = listener.endpoint
        features = FeatureStore(engine: engine, timeout: configuration.parkedKVTimeout)
        transfers = TransferServer(engine: engine, listener: listener, counters: counters, parkedTimeout: configuration.parkedKVTimeout, features: features)
        client = TransferClient(counters: counters, useSharedMemory: configuration.sharedMemory)
        state = Mutex(State(role: configuration.role))
    }

    /// Registers, serves until the front end goes away, then stops the engine.
    public func run() async throws {
        transfers.start()
        var hello = WorkerHello(
            slot: configuration.slot, role: configuration.role, processId: ProcessInfo.processInfo.processIdentifier,
            transfer: transferEndpoint, kvLayout: engine.kvLayout,
            kvCapacityTokens: kvCapacityTokens,
            imagePlaceholder: engine.servedModel.imagePlaceholder, limits: engine.promptLimits, blockSize: configuration.engine.blockSize,
            imageTokenRule: engine.imageTokenRule)
        hello.group = configuration.group
        hello.podName = configuration.podName
        hello.podAddress = configuration.podAddress
        try await session.run(registering: hello, readerName: "tessera-worker-control", heartbeatEvery: configuration.heartbeatInterval,
                              heartbeat: { [self] in
                                  defer { transfers.expire() }
                                  return load()
                              }, handle: { [self] in handle($0, $1) })
        transfers.close()
        client.closeAll()
        await engine.shutdown(gracePeriod: .zero)
    }

    private func handle(_ message: WireMessage, _ payload: Data) {
        switch message {
        case let .generate(id, job):
            state.withLock { $0.pendingPrefill[id] = job.prompt.count }
            if let source = job.kvSource {
                start(id) { [self] in try await decode(id, job, from: source) }
            } else {
                // The prompt is computed here: it joins the engine's queue now, in the order the front end
                // sent it (the batch policy's arrival order), not when the request's task happens to run.
                let submitted = Result { () throws -> (Int, AsyncThrowingStream<InferenceEvent, any Error>) in
                    let images = try WireImages.unpack(job.images, payload)
                    return try batches.track(id) { [engine] () throws(EngineError) in
                        try engine.submitIdentified(InferenceRequest(prompt: .tokens(job.prompt), images: images, parameters: job.parameters, sloClass: job.sloClass))
                    }
                }
                start(id) { [self] in
                    let (engineID, events) = try submitted.get()
                    defer { batches.forget(engineID) }
                    try await stream(id, events)
                }
            }
        case let .prefill(id, tokens, images, sources, pushTo, sloClass, promptLogprobs):
            // Pixels came only for the images no encode worker holds.
            let pulled = Set(sources.flatMap(\.imageIDs))
            start(id) { [self] in
                try await prefill(id, tokens, images: WireImages.references(images, payload, pixelsFor: images.map(\.id).filter { !pulled.contains($0) }),
                                  featureSources: sources, pushTo: pushTo, sloClass: sloClass, promptLogprobs: promptLogprobs)
            }
        case let .encode(id, images): start(id) { [self] in try await encode(id, images: WireImages.unpack(images, payload)) }
        case let .releaseKV(handle): transfers.release(handle)
        case let .switchRole(role): switchRole(to: role)
        default: break
        }
    }

    /// Runs one request's work as a task the front end can cancel with `abort`.
    private func start(_ id: Int, _ work: @escaping @Sendable () async throws -> Void) {
        session.start(id, failed: { error in
            .failed(request: id, (error as? EngineError) ?? .internalFailure("\(error)"))
        }, finished: { [self] in
            state.withLock { _ = $0.pendingPrefill.removeValue(forKey: id) }
            finishSwitchIfDrained()
        }, work)
    }

    /// Encodes a request's images and holds their features for the prefill worker that will pull them.
    private func encode(_ id: Int, images: [RGBImage]) async throws {
        let encoded = try await engine.encodeImages(images)
        features.hold(encoded.images)
        send(.encoded(request: id, imageIDs: encoded.images.map(\.imageID), timings: encoded.timings))
    }

    private func prefill(_ id: Int, _ tokens: [Int], images: [ImageReference], featureSources: [FeatureSource], pushTo: Endpoint?,
                         sloClass: String?, promptLogprobs: Int?) async throws {
        state.withLock { $0.pendingPrefill[id] = tokens.count }
        for source in featureSources {
            engine.provideEncoded(try await pullFeatures(source))
        }
        let (handle, events) = try batches.track(id) { [engine] () throws(EngineError) in
            try engine.submitPrefill(prompt: tokens, images: images, sloClass: sloClass, promptLogprobs: promptLogprobs)
        }
        defer { batches.forget(handle) }
        var cached = 0, imageTimings: [ImageStageTimings] = []
        var prompt: TokenDelta?
        for try await event in events {
            switch event {
            case let .delta(delta): prompt = delta
            case let .finished(info): (cached, imageTimings) = (info.cachedTokens, info.timings.images)
            }
        }
        guard !Task.isCancelled, let parked = engine.parkedPrompt(handle) else {
            engine.releaseParkedKV(handle)
            throw CancellationError()
        }
        if let prompt { send(.delta(request: id, prompt)) }
        transfers.announce(handle)
        if let pushTo { transfers.push(handle, to: pushTo, via: client) }
        send(.prefilled(request: id, handle: handle, positions: parked.tokens.count, cachedTokens: cached,
                        prompt: parked.tokens, imageSpans: parked.images, imageTimings: imageTimings))
    }

    /// Continues a request whose prompt's KV the prefill worker in `job` holds.
    private func decode(_ id: Int, _ job: GenerateJob, from source: KVSource) async throws {
        let kv = job.kvPushed ? try await receivePushed(source) : try await pull(source)
        try await stream(id, try engine.submitDecode(
            prompt: job.prompt, imageSpans: job.imageSpans, parameters: job.parameters, sloClass: job.sloClass, importing: kv))
    }

    /// Sends a request's events to the front end.
    private func stream(_ id: Int, _ events: AsyncThrowingStream<InferenceEvent, any Error>) async throws {
        var first = true
        for try await event in events {
            if first {
                first = false
                state.withLock { _ = $0.pendingPrefill.removeValue(forKey: id) }
            }
            switch event {
            case let .delta(delta): send(.delta(request: id, delta))
            case let .finished(info): send(.finished(request: id, info))
            }
        }
    }

    private func pullFeatures(_ source: FeatureSource) async throws -> [EncodedImage] {
        try await onOwnThread { [client] in try client.pullFeatures(source) }
    }

    /// The KV its prefill worker pushes here; pulled after all if it does not arrive in time.
    private func receivePushed(_ source: KVSource) async throws -> KVBuffer {
        if let kv = await transfers.takePushed(source, timeout: .seconds(10)) { return kv }
        try Task.checkCancellation()
        return try await pull(source)
    }

    /// Pulls on a thread outside the cooperative pool: the socket round trip blocks.
    private func pull(_ source: KVSource) async throws -> KVBuffer {
        let layout = engine.kvLayout
        return try await onOwnThread { [client] in try client.pull(source, expecting: layout) }
    }

    /// Leaves within `timeout` (see the type's documentation); `run()` returns once the connection
    /// has closed. Idempotent: a second signal does not restart the clock.
    public func drain(timeout: Duration) { session.drain(timeout: timeout) }

    /// Stops taking work (the front end already routes elsewhere), lets in-flight requests finish,
    /// then serves the new role on the loaded model. A worker started without the language model
    /// (encode) stays in its role: the front end sees the switch answered with the old role.
    private func switchRole(to role: InstanceRole) {
        // A worker without the vision encoder loads it when an image first needs encoding.
        guard role != .encodePrefill, role == .encode || engine.parts.contains(.languageModel) else {
            send(.switched(role: state.withLock { $0.role }))
            return
        }
        state.withLock { $0.switchingTo = role }
        finishSwitchIfDrained()
    }

    private func finishSwitchIfDrained() {
        let switched: InstanceRole? = state.withLock { s in
            guard let target = s.switchingTo, session.isIdle else { return nil }
            s.switchingTo = nil
            s.role = target
            return target
        }
        if let switched { send(.switched(role: switched)) }
    }

    /// Tokens the KV cache holds; none without a language model.
    private var kvCapacityTokens: Int { engine.kvCapacityTokens }

    private func load() -> WorkerLoad {
        let statistics = engine.statistics()
        var load = WorkerLoad(role: state.withLock { $0.role }, statistics: statistics)
        load.running = statistics.runningRequests
        load.waiting = statistics.waitingRequests
        load.pendingPrefillTokens = state.withLock { $0.pendingPrefill.values.reduce(0, +) }
        load.kvUsedTokens = Int(statistics.kvCacheUsage * Double(kvCapacityTokens))
        load.parkedKV = engine.parkedCount
        let totals = counters.snapshot
        load.kvBytesSent = totals.bytesSent
        load.kvBytesReceived = totals.bytesReceived
        load.kvTransferSeconds = totals.seconds
        load.kvTransfers = totals.transfers
        return load
    }

    private func send(_ message: WireMessage) { session.send(message) }
}
