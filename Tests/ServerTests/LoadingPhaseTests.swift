import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

/// The listener is up before the model has loaded: `/health` and the API say 503 until then.
@Suite struct LoadingPhaseTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/models/llama-gqa")

    @Test func healthAndApiAnswer503UntilTheServiceIsLoaded() async throws {
        let server = TesseraServer(host: "127.0.0.1", port: 0) { throw CancellationError() }
        try await server.makeApplication().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("loading"))
            }
            try await client.execute(uri: "/v1/models", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                #expect(String(buffer: response.body).contains("\"type\":\"service_unavailable_error\""))
            }
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: #"{"model":"llama-gqa","prompt":"hi"}"#)) { response in
                #expect(response.status == .serviceUnavailable)
            }

            let service = try OpenAIService(engine: LLMEngine(directory: Self.model, config: EngineConfig()), configuration: ServerConfiguration())
            server.slot.fill(service)
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/models", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"id\":\"llama-gqa\""))
            }
            await service.drain()
        }
    }
}
