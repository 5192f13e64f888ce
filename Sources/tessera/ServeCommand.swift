import ArgumentParser
import Cluster
import CoreUtilities
import Diffusion
import DiffusionServing
import Engine
import Foundation
import FrontEnd
import Server
import ServingAPI
import Simulator
import Synchronization

/// `tessera serve`: the OpenAI-compatible HTTP server on one model or several.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve models over the OpenAI API (chat and text completions, streaming, /metrics).",
        discussion: """
            Point the official openai client at http://HOST:PORT/v1. SIGTERM or Ctrl-C stops accepting \
            requests, lets in-flight ones finish for up to --drain-timeout seconds, then exits.

            Several models: repeat --model (PATH or NAME=PATH). Each gets an engine of its own with the \
            engine options below (its own KV cache of --kv-cache-memory MiB, its own scheduler); they \
            share the compute threads and one HTTP front, /v1/models lists them, and each request's \
            `model` picks one.
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

    @OptionGroup var kvCache: KVCacheOptions<EngineKVCacheDefault>

    @OptionGroup var step: StepOptions

    @OptionGroup var scheduling: SchedulingOptions

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

    @Option(name: .customLong("image-model"),
            help: "A diffusers Stable Diffusion 1.x/2.x/XL folder served by POST /v1/images/generations, next to the language model.")
    var imageModel: String?

    @Option(name: .customLong("served-image-model-name"), help: "The image model's name (default: its folder's name).")
    var servedImageModelName: String?

    @OptionGroup var imageLimits: ImageEngineOptions

    /// With --topology they go to every image worker (and the ControlNets to `controlnet` workers).
    @OptionGroup var adapters: AdapterOptions

    @Option(help: "A topology file (YAML or JSON) of worker processes to start and serve through (see examples/topologies).")
    var topology: String?

    @Option(help: "With --topology: a cost model from `tessera profile` that gives the fleet planners their per-worker capacities (instead of the topology's `capacity`), and on which a topology's `optimizeSplit` simulates its candidate splits.")
    var profile: String?

    @Option(help: "With --topology: the control endpoint workers reach this front end at, instead of the topology's `control` (in a pod: tcp:$(TESSERA_POD_IP):7000).")
    var control: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard maxQueuedRequests >= 1, maxQueuedTokens >= 1, maxBodyMiB >= 1, mediaMaxMiB >= 1, mediaTimeoutSeconds >= 1 else {
            throw ValidationError("queue caps, --max-body-size, --media-max-size and --media-timeout must be at least 1")
        }
        guard decodedImageCacheMiB >= 0 else { throw ValidationError("--decoded-image-cache must not be negative") }
        guard drainTimeoutSeconds >= 0 else { throw ValidationError("--drain-timeout must be >= 0") }
        // What a topology's policies set for every worker it starts.
        let topologyOwned = [("--batch-policy", "batcher", scheduling.batchPolicy != nil), ("--image-batcher", "imageBatcher", imageLimits.imageBatcher != nil),
                             ("--step-time-target-ms", "stepTimeTargetMs", step.stepTimeTargetMs != nil)]
        if topology != nil, let (option, key, _) = topologyOwned.first(where: \.2) {
            throw ValidationError("with --topology, \(option) is the topology's \(key)")
        }
        guard readTimeoutSeconds >= 1 else { throw ValidationError("--read-timeout must be at least 1") }
        if let maxModelLength, maxModelLength < 2 { throw ValidationError("--max-model-len must be at least 2") }
        if imageModel == nil, !adapters.isEmpty { throw ValidationError("--lora, --controlnet and --adapter-dir add to an --image-model") }
        if profile != nil, topology == nil { throw ValidationError("--profile gives worker capacities to a --topology's planners; add --topology") }
        if control != nil, topology == nil { throw ValidationError("--control is the control endpoint of a --topology's workers; add --topology") }
        if modelOptions.model.count > 1 {
            if topology != nil { throw ValidationError("--topology serves one model; give one --model") }
            if servedModelName != nil { throw ValidationError("with several models, name each as --model NAME=PATH instead of --served-model-name") }
            if chatTemplatePath != nil { throw ValidationError("--chat-template replaces one model's template; give one --model") }
        }
    }

    func run() async throws {
        try modelOptions.applyComputeSettings()
        var engineConfig = EngineConfig()
        engineConfig.kvCacheMemoryBytes = kvCache.memoryBytes
        engineConfig.blockSize = kvCache.blockSize
        engineConfig.maxModelLength = maxModelLength
        engineConfig.scheduler = step.config
        engineConfig.maxQueuedRequests = maxQueuedRequests
        engineConfig.maxQueuedTokens = maxQueuedTokens
        engineConfig.weightQuantization = try modelOptions.quantization()
        try scheduling.apply(to: &engineConfig)
        var models = try modelOptions.servedModels()
        if let servedModelName { models[0].name = servedModelName }

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

        // One registry: /metrics shows every model, labelled with its model_name.
        let first = ServerMetrics(modelName: models[0].name)
        first.bootstrapMetricsSystem()
        let metrics = [first] + models.dropFirst().map { ServerMetrics(modelName: $0.name, registry: first.registry) }
        let announcer = ReadyAnnouncer(host: host)
        let imageEngineConfig = try imageLimits.config()
        var server = TesseraServer(host: host, port: port) { [self, models, engineConfig, configuration] in
            // The image model is served beside the first language model.
            let images: ServedImageModel? = if let imageModel, topology == nil {
                try await onOwnThread {
                    let folder = URL(fileURLWithPath: imageModel)
                    let pipeline = try StableDiffusionPipeline(directory: folder)
                    let registry = try adapters.registry()
                    return ServedImageModel(name: servedImageModelName ?? folder.standardizedFileURL.lastPathComponent,
                                            engine: DiffusionEngine(pipeline: pipeline, config: imageEngineConfig, registry: registry))
                }
            } else {
                nil
            }
            var services: [OpenAIService] = []
            for (model, metrics) in zip(models, metrics) {
                var config = engineConfig
                config.servedModelName = model.name
                var served = services.isEmpty ? images : nil
                let engine: any InferenceEngine
                if let topology {
                    let frontEnd = try await startFrontEnd(topologyPath: topology, model: model.location, name: model.name)
                    // The topology's image pool serves the image model.
                    if let imageModel {
                        let folder = URL(fileURLWithPath: imageModel)
                        served = ServedImageModel(name: servedImageModelName ?? folder.standardizedFileURL.lastPathComponent,
                                                  engine: ClusterImageService(frontEnd: frontEnd))
                    }
                    engine = frontEnd
                } else {
                    engine = try await onOwnThread { [config] in try LLMEngine(directory: model.location, config: config) }
                }
                services.append(try OpenAIService(engine: engine, configuration: configuration, metrics: metrics, imageModel: served))
            }
            return ServedModels(services)
        }
        server.allowedOrigins = allowedOrigins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        server.readTimeout = .seconds(readTimeoutSeconds)
        server.apiKeys = apiKeys + (ProcessInfo.processInfo.environment["TESSERA_API_KEY"] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        server.apiKeysProtectProbes = apiKeyProtectsProbes
        try await server.run(onRunning: { announcer.listening(on: $0) }, onLoaded: { announcer.loaded($0.services.map(\.engine.servedModel)) })
    }
}

/// Prints when the listener is up and, once the model has also loaded, the line scripts wait for.
private final class ReadyAnnouncer: Sendable {
    private let host: String
    private let state = Mutex<(port: Int?, models: [ServedModel]?)>((nil, nil))

    init(host: String) { self.host = host }

    func listening(on port: Int) {
        say("listening on http://\(host):\(port) (/health answers 503 until the model has loaded)")
        announceIfReady { $0.port = port }
    }

    func loaded(_ models: [ServedModel]) { announceIfReady { $0.models = models } }

    private func announceIfReady(_ update: (inout (port: Int?, models: [ServedModel]?)) -> Void) {
        let ready = state.withLock { state -> (Int, [ServedModel])? in
            update(&state)
            guard let port = state.port, let models = state.models else { return nil }
            return (port, models)
        }
        if let (port, models) = ready {
            let names = models.map { "'\($0.name)' (context \($0.contextLength))" }.joined(separator: ", ")
            say("serving \(names) on http://\(host):\(port)/v1")
        }
    }

    /// Written unbuffered so scripts waiting for these lines see them at once.
    private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
}
