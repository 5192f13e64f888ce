import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import ServingAPI
import Testing
@testable import Server

/// A request the engine cannot queue is refused before its body is read: even a body that is not
/// JSON gets the 503 (with Retry-After) rather than a 400, and the rejection is counted.
@Suite struct EarlyRefusalTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/models/llama-gqa")

    func service(maxQueuedTokens: Int) throws -> OpenAIService {
        var config = EngineConfig()
        config.maxQueuedTokens = maxQueuedTokens
        return try OpenAIService(engine: LLMEngine(directory: Self.model, config: config), configuration: ServerConfiguration())
    }

    @Test func aFullQueueRefusesBeforeParsing() async throws {
        let full = try service(maxQueuedTokens: 0)
        #expect(throws: EngineError.overloaded(retryAfterSeconds: 1)) { try full.engine.checkAdmission() }
        try await TesseraServer(service: full, host: "127.0.0.1", port: 0).makeApplication().test(.router) { client in
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: "not json")) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
        }
        let rejected = full.metrics.exposition().split(separator: "\n").filter { $0.hasPrefix("tessera:request_rejected_total") }
        #expect(rejected.count == 1 && rejected.allSatisfy { $0.hasSuffix(" 1") }, "\(rejected)")
        await full.drain()

        let open = try service(maxQueuedTokens: 1 << 20)
        try open.engine.checkAdmission()
        try await TesseraServer(service: open, host: "127.0.0.1", port: 0).makeApplication().test(.router) { client in
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: "not json")) { response in
                #expect(response.status == .badRequest, "\(String(buffer: response.body))")
            }
        }
        await open.drain()
        #expect(throws: EngineError.shuttingDown) { try open.engine.checkAdmission() }
    }
}
