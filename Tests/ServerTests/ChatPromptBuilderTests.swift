import Engine
import Foundation
import ServingAPI
import Testing
import Tokenizers
@testable import Server

@Suite struct ChatPromptBuilderTests {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/models")

    func builder(_ name: String, placeholder: String?) throws -> ChatPromptBuilder {
        let tokenizer = try Tokenizer.load(directory: Self.models.appendingPathComponent(name))
        let model = ServedModel(name: name, contextLength: 512, tokenizer: tokenizer, chatTemplate: tokenizer.chatTemplate,
                                imagePlaceholder: placeholder)
        return try ChatPromptBuilder(source: try #require(tokenizer.chatTemplate), model: model)
    }

    func messages(_ json: String) throws -> [ChatMessage] {
        try JSONDecoder().decode([ChatMessage].self, from: Data(json.utf8))
    }

    @Test func plainStringContentSurvivesATemplateThatIteratesParts() throws {
        let llava = try builder("llava-tiny", placeholder: "<image>")
        #expect(llava.usesContentParts)
        let asString = try llava.render(messages(#"[{"role": "user", "content": "hello world"}]"#)).text
        let asParts = try llava.render(messages(#"[{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]"#)).text
        #expect(asString.contains("hello world"))
        #expect(asString == asParts)
    }
}
