import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Runs an ``OpenAIService`` over HTTP until SIGTERM or SIGINT, then drains.
///
/// On a signal the server first marks itself draining (`/health` → 503, new requests → 503), lets
/// in-flight requests finish for up to `drainTimeout` (aborting the rest), and then closes.
///
/// ```swift
/// try await TesseraServer(service: service, host: "127.0.0.1", port: 8000).run()
/// ```
public struct TesseraServer: Sendable {
    public let service: OpenAIService
    public let host: String
    public let port: Int
    public var logger: Logger

    public init(service: OpenAIService, host: String, port: Int, logger: Logger = Logger(label: "tessera.server")) {
        self.service = service
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// The HTTP application with every route; `onRunning` gets the bound port (useful with port 0).
    public func makeApplication(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.middlewares.add(MetricsMiddleware())
        service.addRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "tessera"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until a termination signal, then drains (see the type's documentation).
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = ServiceGroup(
            configuration: .init(
                // Shut down in reverse order: drain the engine first, then close the listener.
                services: [.init(service: makeApplication(onRunning: onRunning)), .init(service: DrainService(service: service))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

/// Waits for graceful shutdown, then drains the service before the HTTP listener closes.
struct DrainService: Service {
    let service: OpenAIService

    func run() async throws {
        try? await gracefulShutdown()
        await service.drain()
    }
}
