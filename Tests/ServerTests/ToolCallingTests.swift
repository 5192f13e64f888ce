import ChatTemplates
import ServingAPI
import Foundation
import Testing
import Tokenizers
@testable import Server

@Suite struct ToolCallingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func hermesCallsWithContentBefore() {
        let text = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"
        let (content, calls) = ToolCallFormat.hermes.parse(text)
        #expect(content == "Let me check.")
        #expect(calls.map(\.function.name) == ["get_weather", "get_time"])
        #expect(calls.first?.function.arguments == #"{"city":"Oslo","unit":"c"}"#)
    }

    @Test func llamaAndMistralCalls() {
        let llama = ToolCallFormat.llama3.parse(#"<|python_tag|>{"name": "f", "parameters": {"x": 1}}"#)
        #expect(llama.content == nil && llama.calls.map(\.function.arguments) == [#"{"x":1}"#])
        let mistral = ToolCallFormat.mistral.parse(#"[TOOL_CALLS] [{"name": "f", "arguments": {"a": "b"}}, {"name": "g", "arguments": {}}]"#)
        #expect(mistral.calls.map(\.function.name) == ["f", "g"])
    }

    @Test(arguments: [ToolCallFormat.hermes, .llama3, .mistral])
    func textWithoutWellFormedCallsIsContent(_ format: ToolCallFormat) {
        for text in ["Hello there", "<tool_call>{\"name\": oops}</tool_call>", "[TOOL_CALLS] [{]", "{\"no_name\": 1}"] {
            let (content, calls) = format.parse(text)
            #expect(calls.isEmpty && content == text, "\(format): \(text)")
        }
    }

    @Test func formatFollowsTheTemplate() throws {
        for (file, format) in [("qwen2_5", ToolCallFormat.hermes), ("mistral_v0_3", .mistral), ("llama3_1", .llama3)] {
            let source = try String(contentsOf: Self.root.appendingPathComponent("fixtures/chat_templates/\(file).jinja"), encoding: .utf8)
            #expect(ToolCallFormat(template: source) == format, "\(file)")
        }
    }

    /// An OpenAI-shaped tool conversation (arguments as JSON text, content null) renders exactly as
    /// transformers renders the same conversation with Qwen2.5's template.
    @Test(arguments: ["qwen2_5/tools", "qwen2_5/tools_without_system"])
    func toolHistoriesRenderAsTransformers(_ name: String) throws {
        let expected = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.root.appendingPathComponent("fixtures/chat_templates/expected.json"))) as! [String: Any]
        let cases = expected["chat_cases"] as! [[String: Any]]
        let reference = try #require(cases.first { $0["name"] as? String == name })
        let context = reference["context"] as! [String: Any]
        // The API sends arguments as a JSON string and an assistant turn with only calls as content null.
        var messages = context["messages"] as! [[String: Any]]
        for i in messages.indices {
            guard var calls = messages[i]["tool_calls"] as? [[String: Any]] else { continue }
            for j in calls.indices {
                var function = calls[j]["function"] as! [String: Any]
                function["arguments"] = String(decoding: try JSONSerialization.data(withJSONObject: function["arguments"]!, options: [.sortedKeys]), as: UTF8.self)
                calls[j]["function"] = function
            }
            messages[i]["tool_calls"] = calls
            messages[i]["content"] = NSNull()
        }
        let decoded = try JSONDecoder().decode([ChatMessage].self, from: JSONSerialization.data(withJSONObject: messages))
        let tokenizer = try Tokenizer.load(directory: Self.root.appendingPathComponent("fixtures/models/qwen2-tied"))
        let source = try String(contentsOf: Self.root.appendingPathComponent("fixtures/chat_templates/qwen2_5.jinja"), encoding: .utf8)
        let builder = try ChatPromptBuilder(
            source: source, model: ServedModel(name: "q", contextLength: 512, tokenizer: tokenizer, chatTemplate: source, imagePlaceholder: nil))
        // The tools as sent, in their key order (the server reads them from the body the same way).
        let ordered = try TemplateValue(jsonData: Data(contentsOf: Self.root.appendingPathComponent("fixtures/chat_templates/expected.json")))
        guard case let .array(orderedCases)? = ordered["chat_cases"] else { Issue.record("no cases"); return }
        let tools = orderedCases.first { $0["name"] == .string(name) }?["context"]?["tools"]
        let rendered = try builder.render(decoded, tools: tools).text
        #expect(rendered == reference["expected"] as! String, "\(rendered)")
    }

    @Test func nullContentWithATemplateThatKnowsNoTools() throws {
        let tokenizer = try Tokenizer.load(directory: Self.root.appendingPathComponent("fixtures/models/llama-gqa"))
        let model = ServedModel(name: "l", contextLength: 256, tokenizer: tokenizer, chatTemplate: tokenizer.chatTemplate, imagePlaceholder: nil)
        let builder = try ChatPromptBuilder(source: try #require(tokenizer.chatTemplate), model: model)
        let messages = try JSONDecoder().decode([ChatMessage].self, from: Data(#"""
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
         {"role": "tool", "tool_call_id": "c1", "content": "42"}]
        """#.utf8))
        #expect(try builder.render(messages).text.contains("42"))
    }
}
