import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Runs an ``OpenAIService`` over HTTP until SIGTERM or SIGINT, then drains.
///
/// The listener comes up first and the service loads behind it, so `/health` answers 503
/// ("loading") until the model is ready. On a signal the server marks itself draining (`/health` →
/// 503, new requests → 503), lets in-flight requests finish for up to `drainTimeout` (aborting the
/// rest), and then closes.
///
/// ```swift
/// try await TesseraServer(host: "127.0.0.1", port: 8000) {
///     ServedModels([try OpenAIService(engine: await loadEngine(), configuration: ServerConfiguration())])
/// }.run()
/// ```
public struct TesseraServer: Sendable {
    public let host: String
    public let port: Int
    public var logger: Logger
    /// Origins browsers may call from (`--allowed-origins`; `*` for any); empty sends no CORS headers.
    public var allowedOrigins: [String] = []
    /// How long a client may take to send a whole request, counted from the connection opening
    /// or its previous answer ending (slowloris, stalled bodies, idle keep-alive connections).
    public var readTimeout: Duration = .seconds(60)
    /// Keys a client must send as `Authorization: Bearer <key>`; empty serves everyone.
    public var apiKeys: [String] = []
    /// Whether the keys also guard `/health`, `/ready` and `/metrics`.
    public var apiKeysProtectProbes = false
    let slot: ServiceSlot
    private let load: @Sendable () async throws -> ServedModels

    /// A server whose models are loaded by `load` after the listener starts (one or several; see
    /// ``ServedModels``). Loading weights blocks for seconds: `load` should run such work on a
    /// thread of its own, not on Swift's cooperative pool.
    public init(host: String, port: Int, logger: Logger = Logger(label: "tessera.server"), load: @escaping @Sendable () async throws -> ServedModels) {
        self.host = host
        self.port = port
        self.logger = logger
        self.load = load
        slot = ServiceSlot()
    }

    /// A server for a service that is already loaded.
    public init(service: OpenAIService, host: String, port: Int, logger: Logger = Logger(label: "tessera.server")) {
        self.init(models: ServedModels([service]), host: host, port: port, logger: logger)
    }

    /// A server for models that are already loaded.
    public init(models: ServedModels, host: String, port: Int, logger: Logger = Logger(label: "tessera.server")) {
        self.host = host
        self.port = port
        self.logger = logger
        load = { models }
        slot = ServiceSlot(models: models)
    }

    /// The HTTP application with every route; `onRunning` gets the bound port (useful with port 0).
    public func makeApplication(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: ConnectionContext.self, options: .autoGenerateHeadEndpoints)
        router.middlewares.add(APIErrorMiddleware(allowedOrigins: allowedOrigins))
        router.middlewares.add(MetricsMiddleware())
        if !apiKeys.isEmpty { router.middlewares.add(APIKeyMiddleware(keys: apiKeys, protectsProbes: apiKeysProtectProbes)) }
        slot.addRoutes(to: router)
        let readTimeout = readTimeout
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionGuard(readTimeout: readTimeout)])),
            configuration: .init(address: .hostname(host, port: port), serverName: "tessera"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until a termination signal, then drains (see the type's documentation). `onRunning`
    /// gets the bound port as soon as the listener is up; `onLoaded` gets the models once they are ready.
    public func run(
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        onLoaded: @escaping @Sendable (ServedModels) async -> Void = { _ in }
    ) async throws {
        let group = ServiceGroup(
            configuration: .init(
                // Shut down in reverse order: drain the engine first, then close the listener.
                services: [
                    .init(service: makeApplication(onRunning: onRunning)),
                    .init(service: EngineService(slot: slot, load: load, onLoaded: onLoaded)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

/// Loads the models into the slot, then waits for graceful shutdown and drains them before the
/// HTTP listener closes. A failed load ends the server with its error.
struct EngineService: Service {
    let slot: ServiceSlot
    let load: @Sendable () async throws -> ServedModels
    let onLoaded: @Sendable (ServedModels) async -> Void

    func run() async throws {
        let models = try await load()
        slot.fill(models)
        await onLoaded(models)
        try? await gracefulShutdown()
        await models.drain()
    }
}
