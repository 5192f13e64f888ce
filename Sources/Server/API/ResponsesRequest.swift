import CoreUtilities
import Foundation

/// The body of `POST /v1/responses` (OpenAI's Responses API), the text, image and function-tool
/// subset: `input` as a string or a list of items (messages whose content is a string or
/// `input_text` / `input_image` / `output_text` parts, `function_call` and `function_call_output`),
/// `instructions`, `max_output_tokens`, sampling, `text.format`, `tools` (functions),
/// `tool_choice`, `parallel_tool_calls`, `stream`.
struct ResponsesRequest: Decodable, Sendable {
    /// One `input` item: a message, a call the model made earlier, or that call's result. Members
    /// are read leniently here and checked in ``messages()``, which names what is missing.
    struct InputItem: Decodable, Sendable {
        var type: String?
        var role: String?
        var content: InputContent?
        var callID: String?
        var name: String?
        var arguments: String?
        var output: InputContent?

        enum CodingKeys: String, CodingKey { case type, role, content, name, arguments, output, callID = "call_id" }
    }

    /// A `tools` entry; only `function` tools are served.
    struct Tool: Decodable, Sendable {
        var type: String
        var name: String?
        var description: String?
        var parameters: JSONValue?
        var strict: Bool?
    }

    /// `tool_choice`: `"none"`, `"auto"`, `"required"`, or `{"type": "function", "name": …}`.
    struct Choice: Decodable, Sendable {
        var value: ToolChoice

        struct Named: Decodable { var type: String; var name: String }

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if (try? c.decode(String.self)) != nil {
                value = try c.decode(ToolChoice.self)
                return
            }
            let named = try c.decode(Named.self)
            guard named.type == "function" else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "only {\"type\": \"function\", \"name\": …} names a tool")
            }
            value = .named(named.name)
        }
    }

    enum InputContent: Decodable, Sendable {
        case text(String)
        case parts([InputPart])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let text = try? c.decode(String.self) { self = .text(text) } else { self = .parts(try c.decode([InputPart].self)) }
        }
    }

    /// `input_text` and `output_text` (text), `input_image` (an `image_url`, data or http(s)).
    struct InputPart: Decodable, Sendable {
        var type: String
        var text: String?
        var imageURL: String?
        var detail: String?

        enum CodingKeys: String, CodingKey { case type, text, detail, imageURL = "image_url" }
    }

    enum Input: Decodable, Sendable {
        case text(String)
        case items([InputItem])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let text = try? c.decode(String.self) { self = .text(text) } else { self = .items(try c.decode([InputItem].self)) }
        }
    }

    struct TextOptions: Decodable, Sendable {
        struct Format: Decodable, Sendable {
            var type: String
            var name: String?
            var schema: JSONValue?
            var strict: Bool?
        }
        var format: Format?
    }

    var model: String
    var input: Input
    var instructions: String?
    var maxOutputTokens: Int?
    var temperature: Double?
    var topP: Double?
    var stream: Bool?
    var text: TextOptions?
    var seed: Int?
    var tools: [Tool]?
    var toolChoice: Choice?
    var parallelToolCalls: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, input, instructions, temperature, stream, text, seed, tools
        case maxOutputTokens = "max_output_tokens"
        case topP = "top_p"
        case toolChoice = "tool_choice"
        case parallelToolCalls = "parallel_tool_calls"
    }

    /// Every top-level member this endpoint reads.
    static var fields: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    /// `tools` as chat completions' function definitions; a tool of another type is refused by name.
    func functionTools() throws(APIError) -> [ToolDefinition]? {
        guard let tools else { return nil }
        return try tools.enumerated().map { (i, tool) throws(APIError) in
            guard tool.type == "function" else {
                throw .invalidRequest("tools[\(i)].type '\(tool.type)' is not supported (only 'function' tools)", param: "tools[\(i)].type")
            }
            guard let name = tool.name else { throw .invalidRequest("tools[\(i)] needs a 'name'", param: "tools[\(i)].name") }
            return ToolDefinition(type: "function", function: .init(name: name, description: tool.description, parameters: tool.parameters, strict: tool.strict))
        }
    }

    /// The conversation as chat messages: `instructions` first as a system message; consecutive
    /// `function_call` items become one assistant turn with those tool calls, and each
    /// `function_call_output` a `tool` message answering its `call_id`.
    func messages() throws(APIError) -> [ChatMessage] {
        var out: [ChatMessage] = []
        if let instructions { out.append(ChatMessage(role: "system", content: .text(instructions))) }
        switch input {
        case let .text(text):
            out.append(ChatMessage(role: "user", content: .text(text)))
        case let .items(items):
            for (i, item) in items.enumerated() {
                func required<T>(_ value: T?, _ member: String) throws(APIError) -> T {
                    guard let value else {
                        throw .invalidRequest("input[\(i)] of type '\(item.type ?? "message")' needs '\(member)'", param: "input[\(i)].\(member)")
                    }
                    return value
                }
                switch item.type ?? "message" {
                case "message":
                    let role = try required(item.role, "role")
                    out.append(ChatMessage(role: role, content: try Self.content(try required(item.content, "content"), item: i)))
                case "function_call":
                    let call = ToolCallMessage(
                        id: try required(item.callID, "call_id"), type: "function",
                        function: .init(name: try required(item.name, "name"), arguments: try required(item.arguments, "arguments")))
                    if let last = out.last, last.role == "assistant", last.toolCalls != nil {
                        out[out.count - 1].toolCalls?.append(call)
                    } else {
                        var message = ChatMessage(role: "assistant", content: nil)
                        message.toolCalls = [call]
                        out.append(message)
                    }
                case "function_call_output":
                    var message = ChatMessage(role: "tool", content: try Self.content(try required(item.output, "output"), item: i, member: "output"))
                    message.toolCallId = try required(item.callID, "call_id")
                    out.append(message)
                case let type:
                    throw .invalidRequest(
                        "input[\(i)].type '\(type)' is not supported (messages with text and image content, function_call, function_call_output)",
                        param: "input[\(i)].type")
                }
            }
        }
        return out
    }

    private static func content(_ content: InputContent, item i: Int, member: String = "content") throws(APIError) -> MessageContent {
        switch content {
        case let .text(text): return .text(text)
        case let .parts(parts):
            var converted: [ContentPart] = []
            for (j, part) in parts.enumerated() {
                switch (part.type, part.text, part.imageURL) {
                case ("input_text", let text?, _), ("output_text", let text?, _): converted.append(.text(text))
                case ("input_image", _, let url?): converted.append(.imageURL(url))
                default:
                    throw .invalidRequest(
                        "input[\(i)].\(member)[\(j)] of type '\(part.type)' is not supported (input_text, input_image with image_url, output_text)",
                        param: "input[\(i)].\(member)[\(j)]")
                }
            }
            return .parts(converted)
        }
    }
}

extension ChatMessage {
    init(role: String, content: MessageContent?) {
        self.role = role
        self.content = content
    }
}
