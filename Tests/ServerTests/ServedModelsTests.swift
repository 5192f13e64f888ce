import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

/// Several models behind one HTTP front: each request's `model` picks its engine.
@Suite struct ServedModelsTests {
    static let fixtures = EarlyRefusalTests.model.deletingLastPathComponent()

    /// Two engines on two different fixtures, the second served under a name of its own.
    static func twoModels() throws -> ServedModels {
        var named = EngineConfig()
        named.servedModelName = "qwen/tied"
        let first = try OpenAIService(engine: LLMEngine(directory: fixtures.appendingPathComponent("llama-gqa"), config: EngineConfig()),
                                      configuration: ServerConfiguration())
        let second = try OpenAIService(engine: LLMEngine(directory: fixtures.appendingPathComponent("qwen2-tied"), config: named),
                                       configuration: ServerConfiguration(), metrics: ServerMetrics(modelName: "qwen/tied", registry: first.metrics.registry))
        return ServedModels([first, second])
    }

    @Test func eachRequestReachesTheModelItNames() async throws {
        let models = try Self.twoModels()
        try await TesseraServer(models: models, host: "127.0.0.1", port: 0).makeApplication().test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) { response in
                let object = try Self.object(response)
                let ids = object["data"].flatMap { $0 as? [[String: Any]] }?.compactMap { $0["id"] as? String }
                #expect(ids == ["llama-gqa", "qwen/tied"])
            }
            for name in ["llama-gqa", "qwen/tied"] {
                try await client.execute(uri: "/v1/models/\(name)", method: .get) { response in
                    let object = try Self.object(response)
                    #expect(object["id"] as? String == name)
                }
                // The prompt ids differ between the two tokenizers, so the answer shows which engine ran it.
                let body = ByteBuffer(string: #"{"model": "\#(name)", "prompt": "Hello there", "max_tokens": 2}"#)
                try await client.execute(uri: "/v1/completions", method: .post, body: body) { response in
                    #expect(response.status == .ok, "\(String(buffer: response.body))")
                    let object = try Self.object(response)
                    #expect(object["model"] as? String == name)
                }
                try await client.execute(uri: "/tokenize", method: .post, body: ByteBuffer(string: #"{"model": "\#(name)", "prompt": "Hello there"}"#)) { response in
                    let service = models.services.first { $0.engine.servedModel.name == name }!
                    let object = try Self.object(response)
                    #expect(object["tokens"] as? [Int] == service.engine.servedModel.tokenizer.encode("Hello there"))
                }
            }
            let chat = ByteBuffer(string: #"{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}"#)
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: chat) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("model_not_found"))
            }
            try await client.execute(uri: "/v1/models/nope", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"model_name="llama-gqa""#) && text.contains(#"model_name="qwen/tied""#))
            }
        }
        await models.drain()
    }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
    }
}
