import Foundation
import Testing
@testable import Tokenizers

/// OpenAI CLIP's vocabulary in both folder forms, against `transformers`' `CLIPTokenizer`
/// (fixtures/diffusion/clip-tokenizer, written by scripts/fixtures/diffusion_references.py).
@Suite("CLIP tokenizer parity")
struct CLIPTokenizerTests {
    static let root = Fixtures.repositoryRoot.appendingPathComponent("fixtures/diffusion/clip-tokenizer")

    struct Entry: Decodable {
        let text: String
        let ids: [Int]
        let padded: [Int]
        let paddedBang: [Int]
        enum CodingKeys: String, CodingKey { case text, ids, padded, paddedBang = "padded_bang" }
    }

    struct Expected: Decodable {
        let entries: [Entry]
    }

    static func expected() throws -> [Entry] {
        let data = try Data(contentsOf: root.appendingPathComponent("expected.json"))
        return try JSONDecoder().decode(Expected.self, from: data).entries
    }

    @Test func vocabAndMergesFolderMatchesTransformers() throws {
        let tokenizer = try CLIPTokenizer.load(directory: Self.root.appendingPathComponent("vocab-merges"))
        #expect(tokenizer.maxLength == 77)
        #expect(tokenizer.padTokenId == 49407)
        let entries = try Self.expected()
        #expect(entries.count >= 12)
        for entry in entries {
            #expect(tokenizer.tokenizer.encode(entry.text) == entry.ids, "\(entry.text.debugDescription)")
            #expect(tokenizer.encodePadded(entry.text) == entry.padded, "\(entry.text.debugDescription)")
        }
    }

    /// The `tokenizer.json` transformers 5 writes, padding with `!` (which becomes a special added token).
    @Test func tokenizerJSONFolderMatchesTransformers() throws {
        let tokenizer = try CLIPTokenizer.load(directory: Self.root.appendingPathComponent("tokenizer-json"))
        #expect(tokenizer.padTokenId == 0)
        for entry in try Self.expected() {
            #expect(tokenizer.encodePadded(entry.text) == entry.paddedBang, "\(entry.text.debugDescription)")
        }
    }

    @Test func missingFilesAreNamed() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("clip-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: TokenizerError.self) { try CLIPTokenizer.load(directory: empty) }
        try Data("{\"a\": 0}".utf8).write(to: empty.appendingPathComponent("vocab.json"))
        do {
            _ = try CLIPTokenizer.load(directory: empty)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("merges.txt"))
        }
    }
}
