import Foundation

/// A response's `output` items as the model writes them, and the `response.*` stream events that
/// announce them, as OpenAI's Responses API streams: the assistant's message item opens with its
/// first text (`output_item.added`, `content_part.added`, then `output_text.delta`s), each tool
/// call opens a `function_call` item (`output_item.added`, then `function_call_arguments.delta`s),
/// and when the response ends every item is closed in output order (`output_text.done`,
/// `content_part.done` / `function_call_arguments.done`, then `output_item.done`). A non-streamed
/// response builds the same items from the whole text.
///
/// ```swift
/// var output = ResponseOutput(reader: .init(plan: plan))
/// let opened = output.append("<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>")  // added + arguments delta
/// let closed = output.finish(status: "completed")                                          // arguments done + item done
/// output.items(status: "completed")                                                        // [function_call f]
/// ```
struct ResponseOutput {
    struct Event {
        var type: String
        var fields: [String: Any]
    }

    /// Turns generated text into content and tool-call deltas: the plan's reader when tools may be
    /// called, else all of it is content.
    struct Reader: Sendable {
        let plan: ToolPlan?

        func start() -> ToolCallStream? { plan.flatMap { $0.mode == .none ? nil : ToolCallStream(plan: $0) } }
    }

    private enum Item {
        case message(id: String, text: String)
        case call(id: String, callID: String, name: String, arguments: String)
    }

    private var stream: ToolCallStream?
    private var items: [Item] = []
    private var message: Int?
    /// The output index of each call, by its index among the calls.
    private var calls: [Int] = []

    init(reader: Reader) {
        stream = reader.start()
    }

    /// The events for what `text`, the next piece of output, adds.
    mutating func append(_ text: String) -> [Event] {
        apply(stream?.append(text) ?? ToolCallStream.Step(content: text, calls: []))
    }

    /// The events that close the output: what the reader still held, then every item's end. A
    /// response with neither text nor calls still has its (empty) message.
    mutating func finish(status: String) -> [Event] {
        var events: [Event] = []
        if var reader = stream {
            events = apply(reader.finish())
            stream = reader
        }
        if items.isEmpty { events += openMessage() }
        for (index, item) in items.enumerated() {
            switch item {
            case let .message(id, text):
                events.append(Event(type: "response.output_text.done", fields: [
                    "item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": [Any](),
                ]))
                events.append(Event(type: "response.content_part.done", fields: [
                    "item_id": id, "output_index": index, "content_index": 0, "part": Self.textPart(text),
                ]))
            case let .call(id, _, name, arguments):
                events.append(Event(type: "response.function_call_arguments.done", fields: [
                    "item_id": id, "output_index": index, "name": name, "arguments": arguments,
                ]))
            }
            events.append(Event(type: "response.output_item.done", fields: ["output_index": index, "item": json(item, status: status)]))
        }
        return events
    }

    /// The items as the response object lists them.
    func items(status: String) -> [[String: Any]] {
        items.map { json($0, status: status) }
    }

    private mutating func apply(_ step: ToolCallStream.Step) -> [Event] {
        var events: [Event] = []
        if let content = step.content, !content.isEmpty {
            if message == nil { events += openMessage() }
            guard let index = message, case let .message(id, text) = items[index] else { return events }
            items[index] = .message(id: id, text: text + content)
            events.append(Event(type: "response.output_text.delta", fields: [
                "item_id": id, "output_index": index, "content_index": 0, "delta": content, "logprobs": [Any](),
            ]))
        }
        for delta in step.calls {
            if let callID = delta.id {
                calls.append(items.count)
                items.append(.call(id: OpenAIService.requestID("fc_"), callID: callID, name: delta.name ?? "", arguments: ""))
                events.append(Event(type: "response.output_item.added", fields: [
                    "output_index": items.count - 1, "item": json(items[items.count - 1], status: "in_progress"),
                ]))
            }
            let index = calls[delta.index]
            guard !delta.arguments.isEmpty, case let .call(id, callID, name, arguments) = items[index] else { continue }
            items[index] = .call(id: id, callID: callID, name: name, arguments: arguments + delta.arguments)
            events.append(Event(type: "response.function_call_arguments.delta", fields: [
                "item_id": id, "output_index": index, "delta": delta.arguments,
            ]))
        }
        return events
    }

    private mutating func openMessage() -> [Event] {
        let id = OpenAIService.requestID("msg_")
        message = items.count
        items.append(.message(id: id, text: ""))
        return [
            Event(type: "response.output_item.added", fields: ["output_index": items.count - 1, "item": json(items[items.count - 1], status: "in_progress")]),
            Event(type: "response.content_part.added", fields: [
                "item_id": id, "output_index": items.count - 1, "content_index": 0, "part": Self.textPart(""),
            ]),
        ]
    }

    private func json(_ item: Item, status: String) -> [String: Any] {
        switch item {
        case let .message(id, text):
            let content: [Any] = status == "in_progress" ? [] : [Self.textPart(text)]
            return ["type": "message", "id": id, "status": status, "role": "assistant", "content": content]
        case let .call(id, callID, name, arguments):
            return ["type": "function_call", "id": id, "call_id": callID, "name": name, "arguments": arguments, "status": status]
        }
    }

    private static func textPart(_ text: String) -> [String: Any] { ["type": "output_text", "text": text, "annotations": [Any]()] }
}
