import Foundation
import Testing
@testable import Tokenizers

@Suite("Load errors are typed and name the problem")
struct LoadingErrorTests {
    private func llama3JSON() throws -> String {
        try #require(String(data: try Fixtures.data("llama3-style", "tokenizer.json"), encoding: .utf8))
    }

    private func loadError(_ json: String, config: String? = nil) -> TokenizerError? {
        do {
            _ = try Tokenizer(tokenizerJSON: Data(json.utf8), tokenizerConfigJSON: config.map { Data($0.utf8) })
            return nil
        } catch let error as TokenizerError {
            return error
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    @Test func missingFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-tokenizer-\(UUID())")
        do {
            _ = try Tokenizer.load(directory: directory)
            Issue.record("loading a missing directory succeeded")
        } catch let error as TokenizerError {
            guard case .fileNotFound(let url) = error else { Issue.record("wrong error \(error)"); return }
            #expect(url.lastPathComponent == "tokenizer.json")
            #expect(error.description.contains("tokenizer.json"))
        }
    }

    @Test func unknownPatternIsNamed() throws {
        let json = try llama3JSON().replacingOccurrences(of: #"\\p{N}{1,3}"#, with: #"\\d{1,3}"#)
        let error = try #require(loadError(json))
        guard case .unsupportedPattern(let named) = error else { Issue.record("wrong error \(error)"); return }
        #expect(named.contains(#"\d{1,3}"#))
        #expect(error.description.contains(#"\d{1,3}"#))
    }

    @Test func malformedJSON() throws {
        let json = try llama3JSON()
        let truncated = String(json.prefix(json.count / 2))
        let error = try #require(loadError(truncated))
        guard case .malformedJSON(let file, let offset, _) = error else { Issue.record("wrong error \(error)"); return }
        #expect(file == "tokenizer.json")
        #expect(offset > 0)
        #expect(error.description.contains("Malformed JSON in tokenizer.json"))
    }

    @Test func malformedConfig() throws {
        let error = try #require(loadError(try llama3JSON(), config: #"{"bos_token": "<s>",}"#))
        guard case .malformedJSON(let file, _, _) = error else { Issue.record("wrong error \(error)"); return }
        #expect(file == "tokenizer_config.json")
    }

    @Test func unsupportedModel() throws {
        let json = try llama3JSON().replacingOccurrences(of: #""type":"BPE""#, with: #""type":"WordPiece""#)
            .replacingOccurrences(of: #""type": "BPE""#, with: #""type": "WordPiece""#)
        let error = try #require(loadError(json))
        guard case .unsupportedComponent(let kind, let type) = error else { Issue.record("wrong error \(error)"); return }
        #expect(kind == "model")
        #expect(type == "WordPiece")
    }

    @Test func untypedModelWithoutMergesIsNotTakenForBPE() throws {
        let json = #"{"model": {"vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]", "max_input_chars_per_word": 100}}"#
        let error = try #require(loadError(json))
        guard case .unsupportedComponent(let kind, _) = error else { Issue.record("wrong error \(error)"); return }
        #expect(kind == "model")
    }

    @Test func unsupportedPreTokenizer() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Punctuation"}}"#
        let error = try #require(loadError(json))
        #expect(error.description == "Unsupported pre-tokenizer type `Punctuation`")
    }

    @Test func mergeOutsideVocabulary() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#
        let error = try #require(loadError(json))
        guard case .tokenNotInVocabulary(let token, _) = error else { Issue.record("wrong error \(error)"); return }
        #expect(token == "ab")
    }

    @Test func legacyMergeNeedsOneSpace() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a  b"]}}"#
        let error = try #require(loadError(json))
        guard case .invalidField(let path, _) = error else { Issue.record("wrong error \(error)"); return }
        #expect(path == "model.merges[0]")
    }

    @Test func mistypedFieldIsNamed() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}"#
        let error = try #require(loadError(json))
        #expect(error.description.contains("model.vocab[a]"))
        let split = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}]}}"#
        let splitError = try #require(loadError(split))
        #expect(splitError.description.contains("pre_tokenizer.pretokenizers[0].behavior"))
    }

    @Test func addBosTokenNeedsTheToken() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#
        let error = try #require(loadError(json, config: #"{"add_bos_token": true, "bos_token": "<s>"}"#))
        guard case .tokenNotInVocabulary(let token, _) = error else { Issue.record("wrong error \(error)"); return }
        #expect(token == "<s>")
    }
}
