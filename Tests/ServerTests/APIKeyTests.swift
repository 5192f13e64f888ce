import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import ServingAPI
import Testing
@testable import Server

/// With API keys set, every route but the probes needs one of them, and a refusal is an OpenAI 401.
@Suite struct APIKeyTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/models/llama-gqa")

    func check(protectsProbes: Bool, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let service = try OpenAIService(engine: LLMEngine(directory: Self.model), configuration: ServerConfiguration())
        var server = TesseraServer(service: service, host: "127.0.0.1", port: 0)
        server.apiKeys = ["sk-first", "sk-second"]
        server.apiKeysProtectProbes = protectsProbes
        try await server.makeApplication().test(.router, body)
        await service.drain()
    }

    @Test func requestsNeedAKey() async throws {
        try await check(protectsProbes: false) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer sk-third"], [.authorization: "sk-first"], [.authorization: "Bearer sk-firs"]] {
                try await client.execute(uri: "/v1/models", method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized)
                    let error = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: [String: Any]]
                    #expect(error?["error"]?["code"] as? String == "invalid_api_key")
                    #expect(error?["error"]?["type"] as? String == "invalid_request_error")
                }
            }
            for key in ["sk-first", "sk-second"] {
                try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer \(key)"]) { response in
                    #expect(response.status == .ok)
                }
            }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func probesCanBeProtectedToo() async throws {
        try await check(protectsProbes: true) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer sk-second"]) {
                #expect($0.status == .ok)
            }
        }
    }
}
