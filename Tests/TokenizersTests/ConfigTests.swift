import Foundation
import Testing
@testable import Tokenizers

@Suite("tokenizer_config.json and chat templates")
struct ConfigTests {
    private func config(_ name: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Fixtures.data(name, "tokenizer_config.json")) as? [String: Any])
    }

    @Test("bos/eos ids follow the config's tokens", arguments: Fixtures.names)
    func bosAndEos(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        let config = try config(name)
        #expect(tokenizer.bosTokenId == (config["bos_token"] as? String).flatMap(tokenizer.id(forToken:)))
        #expect(tokenizer.eosTokenId == (config["eos_token"] as? String).flatMap(tokenizer.id(forToken:)))
        #expect(tokenizer.eosTokenId != nil)
        // Where the template adds BOS, encoding the empty string yields exactly it.
        let empty = try #require(try Fixtures.expected(name).entries.first { $0.text.isEmpty })
        if let bos = empty.ids.first, config["add_bos_token"] as? Bool == true {
            #expect(tokenizer.bosTokenId == bos)
        }
    }

    @Test("special ids are the special added tokens", arguments: Fixtures.names)
    func specialIds(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        let json = try #require(try JSONSerialization.jsonObject(with: Fixtures.data(name, "tokenizer.json")) as? [String: Any])
        let added = try #require(json["added_tokens"] as? [[String: Any]])
        let expected = Set(added.filter { $0["special"] as? Bool == true }.compactMap { $0["id"] as? Int })
        #expect(!expected.isEmpty)
        #expect(tokenizer.specialTokenIds == expected)
    }

    @Test("chat template comes from tokenizer_config.json", arguments: Fixtures.names)
    func chatTemplateFromConfig(name: String) throws {
        let tokenizer = try Fixtures.tokenizer(name)
        #expect(tokenizer.chatTemplate == (try config(name)["chat_template"] as? String))
    }

    @Test func chatTemplateFilesOverrideConfig() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for file in ["tokenizer.json", "tokenizer_config.json"] {
            try Fixtures.data("llama3-style", file).write(to: directory.appendingPathComponent(file))
        }
        let named = #"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "{{ messages }}"}]}"#
        try Data(named.utf8).write(to: directory.appendingPathComponent("chat_template.json"))
        #expect(try Tokenizer.load(directory: directory).chatTemplate == "{{ messages }}")

        try Data("{{ bos_token }}é\n".utf8).write(to: directory.appendingPathComponent("chat_template.jinja"))
        #expect(try Tokenizer.load(directory: directory).chatTemplate == "{{ bos_token }}é\n")
    }

    @Test func addBosAndEosWithoutPostProcessor() throws {
        let json = try #require(String(data: try Fixtures.data("sentencepiece-style", "tokenizer.json"), encoding: .utf8))
        let start = try #require(json.range(of: #""post_processor":"#))
        let end = try #require(json.range(of: #""decoder":"#, range: start.upperBound..<json.endIndex))
        let stripped = json.replacingCharacters(in: start.lowerBound..<end.lowerBound, with: #""post_processor": null, "#)
        let config = #"{"bos_token": {"content": "<s>", "special": true}, "eos_token": "</s>", "add_bos_token": true, "add_eos_token": true}"#
        let tokenizer = try Tokenizer(tokenizerJSON: Data(stripped.utf8), tokenizerConfigJSON: Data(config.utf8))
        let bos = try #require(tokenizer.bosTokenId)
        let eos = try #require(tokenizer.eosTokenId)
        for entry in try Fixtures.expected("sentencepiece-style").entries {
            #expect(tokenizer.encode(entry.text) == [bos] + entry.idsNoSpecial + [eos])
            #expect(tokenizer.encode(entry.text, addSpecialTokens: false) == entry.idsNoSpecial)
        }
    }
}
