import Foundation
@testable import Tokenizers

/// The committed reference tokenizers under `fixtures/tokenizers/`, with the outputs
/// of the Python `tokenizers` library for every corpus string.
enum Fixtures {
    static let names = ["llama3-style", "qwen2-style", "gpt2-style", "sentencepiece-style", "metaspace-style"]

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func directory(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("fixtures/tokenizers/\(name)")
    }

    struct Entry: Decodable {
        let text: String
        let ids: [Int]
        let tokens: [String]
        let idsNoSpecial: [Int]
        let decoded: String
        let decodedSkip: String

        enum CodingKeys: String, CodingKey {
            case text, ids, tokens
            case idsNoSpecial = "ids_no_special"
            case decoded
            case decodedSkip = "decoded_skip"
        }
    }

    struct Expected: Decodable {
        let name: String
        let entries: [Entry]
    }

    static func expected(_ name: String) throws -> Expected {
        let data = try Data(contentsOf: directory(name).appendingPathComponent("expected.json"))
        return try JSONDecoder().decode(Expected.self, from: data)
    }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer.load(directory: directory(name))
    }

    static func data(_ name: String, _ file: String) throws -> Data {
        try Data(contentsOf: directory(name).appendingPathComponent(file))
    }
}

/// Exact comparison: Swift's `==` on strings is canonical equivalence, which would
/// hide normalisation differences the tokenizer must reproduce.
func scalars(_ string: String) -> [UInt32] {
    string.unicodeScalars.map(\.value)
}
