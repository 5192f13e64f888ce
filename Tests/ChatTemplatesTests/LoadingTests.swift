import Foundation
import Testing
@testable import ChatTemplates

@Suite struct LoadingTests {
    private func directory(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("chat-template-\(UUID().uuidString)")
        for (path, contents) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func prefersJinjaFileThenProcessorJSONThenTokenizerConfig() throws {
        let all = try directory([
            "chat_template.jinja": "jinja",
            "chat_template.json": #"{"chat_template": "processor"}"#,
            "tokenizer_config.json": #"{"chat_template": "tokenizer"}"#,
        ])
        defer { try? FileManager.default.removeItem(at: all) }
        #expect(try ChatTemplate.source(modelDirectory: all) == "jinja")
        try FileManager.default.removeItem(at: all.appendingPathComponent("chat_template.jinja"))
        #expect(try ChatTemplate.source(modelDirectory: all) == "processor")
        try FileManager.default.removeItem(at: all.appendingPathComponent("chat_template.json"))
        #expect(try ChatTemplate.source(modelDirectory: all) == "tokenizer")
    }

    @Test func namedTemplatesFromTokenizerConfigAndAdditionalDirectory() throws {
        let root = try directory([
            "tokenizer_config.json": #"{"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]}"#,
            "additional_chat_templates/rag.jinja": "R",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(try ChatTemplate.source(modelDirectory: root) == "D")
        #expect(try ChatTemplate.source(modelDirectory: root, name: "tool_use") == "T")
        #expect(try ChatTemplate.source(modelDirectory: root, name: "rag") == "R")
        #expect(throws: ChatTemplateError.notFound(message: "no chat template 'missing' in \(root.path)")) {
            try ChatTemplate.source(modelDirectory: root, name: "missing")
        }
    }

    @Test func loadsAndRendersACommittedTemplate() throws {
        let source = try String(contentsOf: Fixtures.directory.appendingPathComponent("qwen2.jinja"), encoding: .utf8)
        let root = try directory(["tokenizer_config.json": String(decoding: try JSONSerialization.data(withJSONObject: ["chat_template": source]), as: UTF8.self)])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(try ChatTemplate.source(modelDirectory: root) == source)
        let messages: [TemplateValue] = [["role": "user", "content": "Hi"]]
        let loaded = try ChatTemplate(modelDirectory: root).render(messages: messages, addGenerationPrompt: true)
        #expect(loaded == (try ChatTemplate(source).render(messages: messages, addGenerationPrompt: true)))
    }

    @Test func missingTemplateAndBrokenJSONAreTypedErrors() throws {
        let empty = try directory(["config.json": "{}"])
        let broken = try directory(["tokenizer_config.json": "{not json"])
        defer {
            try? FileManager.default.removeItem(at: empty)
            try? FileManager.default.removeItem(at: broken)
        }
        #expect(throws: ChatTemplateError.notFound(message: "no chat template in \(empty.path)")) {
            try ChatTemplate(modelDirectory: empty)
        }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(modelDirectory: broken) }
    }
}
