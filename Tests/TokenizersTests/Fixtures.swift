import Foundation
@testable import Tokenizers

/// The committed reference tokenizers under `fixtures/tokenizers/`, with the outputs
/// of the Python `tokenizers` library for every corpus string.
enum Fixtures {
    static let names = ["llama3-style", "qwen2-style", "gpt2-style", "sentencepiece-style", "metaspace-style"]
    /// Small tokenizers under `fixtures/tokenizer-components/` covering components the model layouts do not use.
    static let componentNames = [
        "subword-affixes", "unknown-unfused", "unknown-fused-splits",
        "byte-level-prefix-space", "metaspace-always-split", "metaspace-never",
    ]
    static let allNames = names + componentNames

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func directory(_ name: String) -> URL {
        let folder = componentNames.contains(name) ? "tokenizer-components" : "tokenizers"
        return repositoryRoot.appendingPathComponent("fixtures/\(folder)/\(name)")
    }

    struct Entry: Decodable {
        let text: String
        let ids: [Int]
        /// Present for the model fixtures only.
        let tokens: [String]?
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
        /// `get_vocab_size(with_added_tokens=True)`, recorded for the component fixtures.
        let vocabSize: Int?
        let entries: [Entry]

        enum CodingKeys: String, CodingKey {
            case name, entries
            case vocabSize = "vocab_size"
        }
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
