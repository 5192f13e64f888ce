import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

/// `slo_class` reaches the engine: a known class is served, an unknown one is the client's error.
@Suite struct SLOClassTests {
    @Test func aKnownClassIsServedAndAnUnknownOneIsA400() async throws {
        let service = try OpenAIService(engine: LLMEngine(directory: EarlyRefusalTests.model, config: EngineConfig()),
                                        configuration: ServerConfiguration())
        @Sendable func body(_ sloClass: String) -> ByteBuffer {
            ByteBuffer(string: #"{"model": "llama-gqa", "prompt": "Hello", "max_tokens": 2, "slo_class": "\#(sloClass)"}"#)
        }
        try await TesseraServer(service: service, host: "127.0.0.1", port: 0).makeApplication().test(.router) { client in
            try await client.execute(uri: "/v1/completions", method: .post, body: body("interactive")) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
            }
            try await client.execute(uri: "/v1/completions", method: .post, body: body("urgent")) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("unknown slo_class 'urgent'"))
            }
        }
        await service.drain()
    }
}
