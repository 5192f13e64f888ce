import ArgumentParser
import Cluster
import CoreUtilities
import Engine
import Foundation
import Server
import ServingAPI
import Simulator
import Synchronization

/// `tessera serve`: the OpenAI-compatible HTTP server on one model.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over the OpenAI API (chat and text completions, streaming, /metrics).",
        discussion: """
            Point the official openai client at http://HOST:PORT/v1. SIGTERM or Ctrl-C stops accepting \
            requests, lets in-flight ones finish for up to --drain-timeout seconds, then exits.
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one and prints it).")
    var port = 8000

    @Option(name: .customLong("served-model-name"), help: "The model name clients must send (default: the model folder's name).")
    var servedModelName: String?

    @Option(name: .customLong("max-model-len"), help: "Longest prompt + output in tokens (default: the model's).")
    var maxModelLength: Int?

    @Option(name: .customLong("kv-cache-memory"), help: "Memory for the paged KV cache, in MiB.")
    var kvCacheMemoryMiB = 512

    @Option(name: .customLong("block-size"), help: "Tokens per KV cache block.")
    var blockSize = 16

    @Option(name: .customLong("max-num-batched-tokens"), help: "Tokens per engine step (decode plus prefill chunks).")
    var maxBatchedTokens = 2048

    @Option(name: .customLong("max-num-seqs"), help: "Requests in the running batch at once.")
    var maxRunningRequests = 64

    @OptionGroup var scheduling: SchedulingOptions

    @Option(name: .customLong("output-length-predictor"),
            help: "A predictor written by `tessera train-predictor`; the batch policy then sees predicted output lengths instead of max_tokens.")
    var outputLengthPredictor: String?

    @Option(name: .customLong("max-queued-requests"), help: "Waiting requests before new ones get 503.")
    var maxQueuedRequests = 256

    @Option(name: .customLong("max-queued-tokens"), help: "Waiting prompt tokens (images counted) before new requests get 503.")
    var maxQueuedTokens = 1 << 20

    @Option(name: .customLong("max-body-size"), help: "Largest request body in MiB (413 above).")
    var maxBodyMiB = 64

    @Option(name: .customLong("allowed-media-domains"), help: "Comma-separated hosts that http(s) image URLs may use (none by default).")
    var allowedMediaDomains = ""

    @Option(name: .customLong("decoded-image-cache"),
            help: "MiB of decoded images kept by their encoded bytes, so an image sent again is not decoded again (0: off).")
    var decodedImageCacheMiB = 256

    @Option(name: .customLong("media-max-size"), help: "Largest image download in MiB.")
    var mediaMaxMiB = 20

    @Option(name: .customLong("media-timeout"), help: "Longest image download in seconds.")
    var mediaTimeoutSeconds = 10

    @Option(name: .customLong("drain-timeout"), help: "Seconds in-flight requests may run after SIGTERM.")
    var drainTimeoutSeconds = 30

    @Option(name: .customLong("allowed-origins"), help: "Comma-separated origins browsers may call from (* for any); CORS is off by default.")
    var allowedOrigins = ""

    @Option(name: .customLong("chat-template"), help: "A Jinja chat template file to use instead of the model's.")
    var chatTemplatePath: String?

    @Option(name: .customLong("read-timeout"),
            help: "Seconds a client may take to send a whole request, from connecting or its previous answer (then the connection closes).")
    var readTimeoutSeconds = 60

    @Option(name: .customLong("api-key"),
            help: "A key clients must send as 'Authorization: Bearer KEY' (repeatable; TESSERA_API_KEY adds comma-separated keys).")
    var apiKeys: [String] = []

    @Flag(name: .customLong("api-key-protects-probes"), help: "Require the API key on /health, /ready and /metrics too.")
    var apiKeyProtectsProbes = false

    @Option(help: "A topology file (YAML or JSON) of worker processes to start and serve through (see examples/topologies).")
    var topology: String?

    @Option(help: "With --topology: a cost model from `tessera profile` that gives the fleet planners their per-worker capacities (instead of the topology's `capacity`).")
    var profile: String?

    @Option(help: "With --topology: the control endpoint workers reach this front end at, instead of the topology's `control` (in a pod: tcp:$(TESSERA_POD_IP):7000).")
    var control: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard kvCacheMemoryMiB >= 1, blockSize >= 1, maxBatchedTokens >= 1, maxRunningRequests >= 1 else {
            throw ValidationError("--kv-cache-memory, --block-size, --max-num-batched-tokens and --max-num-seqs must be at least 1")
        }
        guard maxQueuedRequests >= 1, maxQueuedTokens >= 1, maxBodyMiB >= 1, mediaMaxMiB >= 1, mediaTimeoutSeconds >= 1 else {
            throw ValidationError("queue caps, --max-body-size, --media-max-size and --media-timeout must be at least 1")
        }
        guard decodedImageCacheMiB >= 0 else { throw ValidationError("--decoded-image-cache must not be negative") }
        guard drainTimeoutSeconds >= 0 else { throw ValidationError("--drain-timeout must be >= 0") }
        if topology != nil, scheduling.batchPolicy != nil {
            throw ValidationError("with --topology, name the batch policy in the topology's batcher")
        }
        if topology != nil, outputLengthPredictor != nil {
            throw ValidationError("--output-length-predictor applies to a single-process server, not yet to --topology")
        }
        guard readTimeoutSeconds >= 1 else { throw ValidationError("--read-timeout must be at least 1") }
        if let maxModelLength, maxModelLength < 2 { throw ValidationError("--max-model-len must be at least 2") }
        if profile != nil, topology == nil { throw ValidationError("--profile gives worker capacities to a --topology's planners; add --topology") }
        if control != nil, topology == nil { throw ValidationError("--control is the control endpoint of a --topology's workers; add --topology") }
    }

    func run() async throws {
        try modelOptions.applyComputeSettings()
        var engineConfig = EngineConfig()
        engineConfig.kvCacheMemoryBytes = kvCacheMemoryMiB << 20
        engineConfig.blockSize = blockSize
        engineConfig.maxModelLength = maxModelLength
        engineConfig.scheduler = SchedulerConfig(maxBatchedTokens: maxBatchedTokens, maxRunningRequests: maxRunningRequests)
        engineConfig.maxQueuedRequests = maxQueuedRequests
        engineConfig.maxQueuedTokens = maxQueuedTokens
        engineConfig.weightQuantization = try modelOptions.quantization()
        try scheduling.apply(to: &engineConfig)
        if let outputLengthPredictor {
            let data = try Data(contentsOf: URL(fileURLWithPath: outputLengthPredictor))
            do { engineConfig.outputLengthPredictor = try JSONDecoder().decode(OutputLengthPredictor.self, from: data) } catch {
                throw ValidationError("\(outputLengthPredictor) is not a predictor written by tessera train-predictor: \(error)")
            }
        }
        let directory = try modelOptions.modelDirectory()
        let name = servedModelName ?? directory.standardizedFileURL.lastPathComponent
        engineConfig.servedModelName = name

        var configuration = ServerConfiguration()
        configuration.maxBodyBytes = maxBodyMiB << 20
        configuration.allowedMediaDomains = allowedMediaDomains.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        configuration.mediaMaxBytes = mediaMaxMiB << 20
        configuration.decodedImageCacheBytes = decodedImageCacheMiB << 20
        configuration.mediaTimeout = .seconds(mediaTimeoutSeconds)
        configuration.drainTimeout = .seconds(drainTimeoutSeconds)
        if let chatTemplatePath {
            configuration.chatTemplate = try String(contentsOf: URL(fileURLWithPath: chatTemplatePath), encoding: .utf8)
        }

        let metrics = ServerMetrics(modelName: name)
        metrics.bootstrapMetricsSystem()
        let announcer = ReadyAnnouncer(host: host)
        var server = TesseraServer(host: host, port: port) { [self, engineConfig, configuration] in
            let engine: any InferenceEngine = if let topology {
                try await startFrontEnd(topologyPath: topology, model: directory, name: name)
            } else {
                try await onOwnThread { try LLMEngine(directory: directory, config: engineConfig) }
            }
            return try OpenAIService(engine: engine, configuration: configuration, metrics: metrics)
        }
        server.allowedOrigins = allowedOrigins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        server.readTimeout = .seconds(readTimeoutSeconds)
        server.apiKeys = apiKeys + (ProcessInfo.processInfo.environment["TESSERA_API_KEY"] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        server.apiKeysProtectProbes = apiKeyProtectsProbes
        try await server.run(onRunning: { announcer.listening(on: $0) }, onLoaded: { announcer.loaded($0.engine.servedModel) })
    }
}

/// Prints when the listener is up and, once the model has also loaded, the line scripts wait for.
private final class ReadyAnnouncer: Sendable {
    private let host: String
    private let state = Mutex<(port: Int?, model: ServedModel?)>((nil, nil))

    init(host: String) { self.host = host }

    func listening(on port: Int) {
        say("listening on http://\(host):\(port) (/health answers 503 until the model has loaded)")
        announceIfReady { $0.port = port }
    }

    func loaded(_ model: ServedModel) { announceIfReady { $0.model = model } }

    private func announceIfReady(_ update: (inout (port: Int?, model: ServedModel?)) -> Void) {
        let ready = state.withLock { state -> (Int, ServedModel)? in
            update(&state)
            guard let port = state.port, let model = state.model else { return nil }
            return (port, model)
        }
        if let (port, model) = ready { say("serving '\(model.name)' (context \(model.contextLength)) on http://\(host):\(port)/v1") }
    }

    /// Written unbuffered so scripts waiting for these lines see them at once.
    private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
}
