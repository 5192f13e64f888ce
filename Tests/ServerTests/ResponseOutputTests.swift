import Foundation
import Testing
@testable import Server

/// The Responses API's output items and stream events for text and function calls.
@Suite struct ResponseOutputTests {
    static func plan(_ choice: ToolChoice = .auto) throws -> ToolPlan? {
        try ToolPlan(
            tools: [JSONDecoder().decode(ToolDefinition.self, from: Data(#"{"type": "function", "function": {"name": "f"}}"#.utf8))],
            choice: choice, parallel: nil, body: "{}", format: .hermes)
    }

    /// Content and two Hermes calls fed token-sized: the message opens with its first text, each call
    /// opens its own item, deltas add up to the items, and the end closes them in output order.
    @Test func contentThenCallsStreamAsOpenAIDefines() throws {
        let text = #"Checking. <tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call><tool_call>{"name": "f", "arguments": {"b": "x"}}</tool_call>"#
        var output = ResponseOutput(reader: .init(plan: try Self.plan()))
        var events: [ResponseOutput.Event] = []
        for character in text { events += output.append(String(character)) }
        events += output.finish(status: "completed")
        let types = events.map(\.type)
        #expect(Array(types.prefix(3)) == ["response.output_item.added", "response.content_part.added", "response.output_text.delta"])
        #expect(types.filter { $0 == "response.output_item.added" }.count == 3)
        #expect(Array(types.suffix(7)) == [
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.function_call_arguments.done", "response.output_item.done",
        ])
        let items = output.items(status: "completed")
        #expect(items.map { $0["type"] as? String } == ["message", "function_call", "function_call"])
        #expect((items[0]["content"] as? [[String: Any]])?.first?["text"] as? String == "Checking.")
        #expect(items[1]["arguments"] as? String == #"{"a": 1}"# && items[2]["arguments"] as? String == #"{"b": "x"}"#)
        #expect(Set(items.compactMap { $0["id"] as? String }).count == 3)
        for index in 1...2 {
            let deltas = events.filter { $0.type == "response.function_call_arguments.delta" && $0.fields["output_index"] as? Int == index }
            #expect(deltas.count > 3)
            #expect(deltas.compactMap { $0.fields["delta"] as? String }.joined() == items[index]["arguments"] as? String)
            #expect(deltas.allSatisfy { $0.fields["item_id"] as? String == items[index]["id"] as? String })
        }
        let written = events.filter { $0.type == "response.output_text.delta" }.compactMap { $0.fields["delta"] as? String }.joined()
        #expect(written == "Checking.")
    }

    /// Without tools (or with `none`) everything is the message's text; an empty answer still has its message.
    @Test(arguments: [false, true])
    func textOnly(_ none: Bool) throws {
        var output = ResponseOutput(reader: .init(plan: none ? try Self.plan(.none) : nil))
        #expect(output.append("").isEmpty)
        let closing = output.finish(status: "incomplete").map(\.type)
        #expect(closing == [
            "response.output_item.added", "response.content_part.added", "response.output_text.done",
            "response.content_part.done", "response.output_item.done",
        ])
        var second = ResponseOutput(reader: .init(plan: none ? try Self.plan(.none) : nil))
        _ = second.append("<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>")
        _ = second.finish(status: "completed")
        let items = second.items(status: "completed")
        #expect(items.count == 1 && items[0]["type"] as? String == "message")
    }

    /// A named function's output is its arguments: one call item, no message.
    @Test func namedFunction() throws {
        var output = ResponseOutput(reader: .init(plan: try Self.plan(.named("f"))))
        let opened = output.append(#"{"a": "#)
        #expect(opened.first?.type == "response.output_item.added")
        #expect((opened.first?.fields["item"] as? [String: Any])?["name"] as? String == "f")
        _ = output.append("2}")
        _ = output.finish(status: "completed")
        let items = output.items(status: "completed")
        #expect(items.count == 1 && items[0]["arguments"] as? String == #"{"a": 2}"#)
        #expect((items[0]["call_id"] as? String)?.hasPrefix("call_") == true && (items[0]["id"] as? String)?.hasPrefix("fc_") == true)
    }
}
