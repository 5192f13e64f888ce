import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Server

/// `/openapi.json` describes exactly the routes the server serves, and every reference in it resolves.
@Suite struct OpenAPIDocumentTests {
    static func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: OpenAPIDocument.data(modelName: nil)) as? [String: Any])
    }

    @Test func theDocumentAndTheRouteTableListTheSamePathsAndMethods() throws {
        let paths = try #require(try Self.document()["paths"] as? [String: [String: Any]])
        let documented = Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
        // HEAD answers every GET route by itself; the document lists the methods a route is for.
        let served = Set(APIRoutes.all.flatMap { route in route.methods.filter { $0 != .head }.map { "\($0.rawValue) \(route.path)" } })
        #expect(documented == served)
        #expect(try Self.document()["openapi"] as? String == "3.1.0")
        #expect((try Self.document()["info"] as? [String: Any])?["version"] as? String == TesseraVersion.current)
    }

    /// Served with a loaded model, the model's name is the one value of `ModelName` and fills the examples.
    @Test func theServedDocumentNamesTheModel() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: OpenAPIDocument.data(modelName: "org/m\"1")) as? [String: Any])
        let schemas = (object["components"] as? [String: Any])?["schemas"] as? [String: Any]
        #expect((schemas?["ModelName"] as? [String: Any])?["enum"] as? [String] == ["org/m\"1"])
        let text = String(decoding: OpenAPIDocument.data(modelName: "org/m\"1"), as: UTF8.self)
        #expect(!text.contains("MODEL") && text.contains(#""model":"org/m\"1""#))
    }

    @Test func everyReferenceResolves() throws {
        let components = try #require(try Self.document()["components"] as? [String: [String: Any]])
        func references(in value: Any) -> [String] {
            switch value {
            case let object as [String: Any]:
                object.flatMap { key, value in key == "$ref" ? [(value as? String) ?? ""] : references(in: value) }
            case let array as [Any]: array.flatMap(references)
            default: []
            }
        }
        let all = references(in: try Self.document())
        #expect(!all.isEmpty)
        // Every reference names a schema or a shared response, and each of those is referred to.
        for section in ["schemas", "responses"] {
            let prefix = "#/components/\(section)/"
            let named = Set(try #require(components[section]).keys)
            let referenced = Set(all.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) })
            #expect(referenced.subtracting(named).isEmpty, "\(referenced.subtracting(named))")
            #expect(named.subtracting(referenced).isEmpty, "\(named.subtracting(referenced))")
        }
        #expect(all.allSatisfy { $0.hasPrefix("#/components/schemas/") || $0.hasPrefix("#/components/responses/") }, "\(all)")
    }

    /// Each documented operation reaches a handler of the running router (no 404 naming the path,
    /// no 405), and each answer's status is one the document lists for the operation.
    @Test func everyDocumentedOperationIsServedWithADocumentedStatus() async throws {
        let paths = try #require(try Self.document()["paths"] as? [String: [String: [String: Any]]])
        let operations = paths.flatMap { path, operations in
            operations.map { method, operation in (path, method, Set(((operation["responses"] as? [String: Any]) ?? [:]).keys)) }
        }
        let service = try OpenAIService(engine: LLMEngine(directory: EarlyRefusalTests.model, config: EngineConfig()), configuration: ServerConfiguration())
        try await TesseraServer(service: service, host: "127.0.0.1", port: 0).makeApplication().test(.router) { client in
            for (path, method, statuses) in operations {
                let uri = path.replacingOccurrences(of: "{model}", with: "llama-gqa")
                let body = method == "post" ? ByteBuffer(string: "{}") : nil
                try await client.execute(uri: uri, method: HTTPRequest.Method(rawValue: method.uppercased())!, body: body) { response in
                    #expect(statuses.contains(String(response.status.code)), "\(method) \(path): \(response.status) \(String(buffer: response.body))")
                    if response.status == .ok, path == "/openapi.json" {
                        #expect(String(buffer: response.body) == String(decoding: OpenAPIDocument.data(modelName: "llama-gqa"), as: UTF8.self))
                    }
                }
            }
        }
        await service.drain()
    }
}
