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
        let reading = ToolCallFormat.hermes.read(text, final: true)
        #expect(reading.content == "Let me check.")
        #expect(reading.calls.map(\.name) == ["get_weather", "get_time"])
        // Arguments are the model's text as written, as OpenAI returns them.
        #expect(reading.calls.map(\.arguments) == [#"{"city": "Oslo", "unit": "c"}"#, "{}"])
    }

    @Test func llamaAndMistralCalls() {
        let llama = ToolCallFormat.llama3.read(#"<|python_tag|>{"name": "f", "parameters": {"x": 1}}; {"name": "g", "parameters": "{}"}"#, final: true)
        #expect(llama == ToolCallReading(content: "", calls: [.init(name: "f", arguments: #"{"x": 1}"#), .init(name: "g", arguments: "{}")]))
        let mistral = ToolCallFormat.mistral.read(#"[TOOL_CALLS] [{"name": "f", "arguments": {"a": "b"}}, {"name": "g", "arguments": {}}]"#, final: true)
        #expect(mistral.calls.map(\.name) == ["f", "g"] && mistral.content.isEmpty)
        #expect(ToolCallFormat.mistral.read(#"[{"name": "f", "arguments": {}}]"#, final: true).calls.map(\.name) == ["f"])
    }

    @Test(arguments: [ToolCallFormat.hermes, .llama3, .mistral])
    func textWithoutWellFormedCallsIsContent(_ format: ToolCallFormat) {
        for text in ["Hello there", "<tool_call>{\"name\": oops}</tool_call>", "[TOOL_CALLS] [{]", "{\"no_name\": 1}", " [1, 2]", "{\"name\": 3}"] {
            #expect(format.read(text, final: true) == ToolCallReading(content: text), "\(format): \(text)")
        }
    }

    static let streamedAnswers: [(ToolCallFormat, String)] = [
        (.hermes, "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo \\\"ö\\\"\", \"days\": [1, 2]}}\n</tool_call>\n<tool_call>{\"arguments\": {}, \"name\": \"get_time\"}</tool_call>"),
        (.hermes, "No call here, only <tool and text."),
        (.llama3, #"<|python_tag|>{"name": "f", "parameters": {"x": 12.5, "y": null}};{"name": "g", "parameters": {"s": "a;b"}}"#),
        (.llama3, #"{"not": "a call"}"#),
        (.mistral, #"Sure. [TOOL_CALLS] [{"name": "f", "arguments": {"a": "b"}}, {"name": "g", "arguments": {"n": [true, false]}}]"#),
        (.mistral, "[1, 2, 3] is a list."),
    ]

    /// Fed in pieces of every size, a streamed answer's content and call deltas add up to the whole
    /// answer; each call's first delta names it and the later ones carry only argument fragments.
    @Test(arguments: 0..<6)
    func streamedDeltasAddUpToTheWholeAnswer(_ which: Int) throws {
        let (format, text) = Self.streamedAnswers[which]
        let plan = try #require(try ToolPlan(
            tools: [JSONDecoder().decode(ToolDefinition.self, from: Data(#"{"type": "function", "function": {"name": "f"}}"#.utf8))],
            choice: .auto, parallel: nil, body: "{}", format: format))
        let whole = plan.read(text, final: true)
        let characters = Array(text)
        for size in 1...9 {
            var stream = ToolCallStream(plan: plan)
            var content = ""
            var calls: [(id: String, name: String, arguments: String)] = []
            var fragments = 0
            func take(_ step: ToolCallStream.Step) {
                content += step.content ?? ""
                for delta in step.calls {
                    if let id = delta.id {
                        #expect(delta.index == calls.count && delta.name != nil)
                        calls.append((id, delta.name ?? "", delta.arguments))
                    } else {
                        #expect(delta.name == nil && delta.index < calls.count)
                        calls[delta.index].arguments += delta.arguments
                        fragments += 1
                    }
                }
            }
            for start in stride(from: 0, to: characters.count, by: size) {
                take(stream.append(String(characters[start..<min(start + size, characters.count)])))
            }
            take(stream.finish())
            #expect(content == whole.content, "\(format) by \(size)")
            #expect(calls.map { PartialToolCall(name: $0.name, arguments: $0.arguments) } == whole.calls, "\(format) by \(size)")
            #expect(stream.madeCalls == !whole.calls.isEmpty)
            if size == 1, !whole.calls.isEmpty { #expect(fragments > 4) }
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
