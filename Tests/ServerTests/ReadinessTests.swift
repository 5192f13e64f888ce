import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import ServingAPI
import Synchronization
import Testing
@testable import Server

/// `/health` and `/ready` answer 503 with the reason while the model loads, while the server
/// drains, and while the engine reports a stage it cannot serve; 200 otherwise.
@Suite struct ReadinessTests {
    /// An engine that serves as the wrapped one does but reports an outage when told to.
    final class OutageEngine: InferenceEngine, Sendable {
        let base: LLMEngine
        let outage = Mutex<String?>(nil)
        init(_ base: LLMEngine) { self.base = base }
        var servedModel: ServedModel { base.servedModel }
        var state: EngineState { base.state }
        var queueCapacity: QueueCapacity { base.queueCapacity }
        var unavailableReason: String? { outage.withLock { $0 } }
        func checkAdmission() throws(EngineError) { try base.checkAdmission() }
        func submit(_ request: InferenceRequest) throws(EngineError) -> AsyncThrowingStream<InferenceEvent, any Error> { try base.submit(request) }
        func statistics() -> EngineStatistics { base.statistics() }
        func shutdown(gracePeriod: Duration) async { await base.shutdown(gracePeriod: gracePeriod) }
    }

    static func expect503(_ client: some TestClientProtocol, _ uri: String, saying reason: String) async throws {
        try await client.execute(uri: uri, method: .get) { response in
            #expect(response.status == .serviceUnavailable, "\(uri)")
            let body = String(buffer: response.body)
            #expect(body.contains(reason), "\(uri): \(body)")
            #expect(body.contains("\"type\":\"service_unavailable_error\""), "\(uri): \(body)")
        }
    }

    @Test func probesFollowLoadingOutagesAndDraining() async throws {
        let engine = OutageEngine(try LLMEngine(directory: EarlyRefusalTests.model, config: EngineConfig()))
        let server = TesseraServer(host: "127.0.0.1", port: 0) { throw CancellationError() }
        try await server.makeApplication().test(.router) { client in
            for uri in ["/health", "/ready"] { try await Self.expect503(client, uri, saying: "the model is still loading") }

            let service = try OpenAIService(engine: engine, configuration: ServerConfiguration())
            server.slot.fill(service)
            try await client.execute(uri: "/health", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ready"}"#)
            }

            engine.outage.withLock { $0 = "group text has no live decode worker (slot 1 starting)" }
            for uri in ["/health", "/ready"] { try await Self.expect503(client, uri, saying: "group text has no live decode worker") }
            // The outage is what the probes report; requests still queue and wait for the stage to return.
            try await client.execute(uri: "/v1/models", method: .get) { response in #expect(response.status == .ok) }

            engine.outage.withLock { $0 = nil }
            try await client.execute(uri: "/ready", method: .get) { response in #expect(response.status == .ok) }

            await service.drain()
            for uri in ["/health", "/ready"] { try await Self.expect503(client, uri, saying: "draining") }
        }
    }

    /// Restarts and retries of a disaggregated engine are exported as counters, restarts by role.
    @Test func restartAndRetryCountersFollowTheEngine() {
        let metrics = ServerMetrics(modelName: "m")
        var statistics = EngineStatistics()
        statistics.workerRestarts = ["decode": 0, "prefill": 0]
        metrics.update(from: statistics)
        statistics.workerRestarts = ["decode": 3, "prefill": 1]
        statistics.requestRetries = 2
        metrics.update(from: statistics)
        let lines = Set(metrics.exposition().split(separator: "\n").map(String.init))
        #expect(lines.contains(#"tessera:worker_restarts_total{model_name="m",role="decode"} 3"#), "\(lines.sorted())")
        #expect(lines.contains(#"tessera:worker_restarts_total{model_name="m",role="prefill"} 1"#))
        #expect(lines.contains(#"tessera:request_retries_total{model_name="m"} 2"#))
        #expect(lines.contains("# TYPE tessera:worker_restarts_total counter"))
    }
}
