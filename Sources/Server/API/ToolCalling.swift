import CoreUtilities
import Foundation
import Grammar

/// One entry of `tools`: a function the model may call.
struct ToolDefinition: Decodable, Sendable {
    struct Function: Decodable, Sendable {
        var name: String
        var description: String?
        var parameters: JSONValue?
        var strict: Bool?
    }

    var type: String
    var function: Function
}

/// `tool_choice`: `"none"`, `"auto"`, `"required"`, or `{"type": "function", "function": {"name": …}}`.
enum ToolChoice: Decodable, Sendable, Equatable {
    case none, auto, required
    case named(String)

    struct Named: Decodable { struct Function: Decodable { var name: String }; var type: String; var function: Function }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let word = try? c.decode(String.self) {
            switch word {
            case "none": self = .none
            case "auto": self = .auto
            case "required": self = .required
            default:
                throw DecodingError.dataCorruptedError(
                    in: c, debugDescription: "must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": …}}")
            }
        } else {
            self = .named(try c.decode(Named.self).function.name)
        }
    }
}

/// A tool call in an earlier assistant message of the conversation.
struct ToolCallMessage: Decodable, Sendable {
    struct Function: Decodable, Sendable { var name: String; var arguments: String }
    var id: String?
    var type: String?
    var function: Function
}

/// A tool call in an answer: `arguments` is JSON text, as OpenAI sends it.
struct ToolCall: Encodable, Sendable, Equatable {
    struct Function: Encodable, Sendable, Equatable { var name: String; var arguments: String }
    var id: String
    var type = "function"
    var function: Function

    init(name: String, arguments: String) {
        id = "call_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        function = Function(name: name, arguments: arguments)
    }
}

/// How the model family writes tool calls, read from its chat template: Hermes/Qwen
/// `<tool_call>{"name": …, "arguments": …}</tool_call>`, Llama 3.x `{"name": …, "parameters": …}`,
/// or Mistral `[TOOL_CALLS] [{"name": …, "arguments": …}]`.
enum ToolCallFormat: String, Sendable {
    case hermes, llama3, mistral

    init(template: String?) {
        let t = template ?? ""
        if t.contains("[TOOL_CALLS]") { self = .mistral }
        else if t.contains("<tool_call>") { self = .hermes }
        else if t.contains("<|python_tag|>") || t.contains("ipython") { self = .llama3 }
        else { self = .hermes }
    }

    /// The content before the calls (nil when none) and the calls, or the whole text as content
    /// when it holds no well-formed call.
    func parse(_ text: String) -> (content: String?, calls: [ToolCall]) {
        let calls: [ToolCall]?
        var content: String?
        switch self {
        case .hermes:
            guard let open = text.range(of: "<tool_call>") else { return (text, []) }
            content = String(text[..<open.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
            var found: [ToolCall] = []
            var rest = text[open.lowerBound...]
            var ok = true
            while let start = rest.range(of: "<tool_call>") {
                let after = rest[start.upperBound...]
                let end = after.range(of: "</tool_call>")
                let body = String(end.map { after[..<$0.lowerBound] } ?? after)
                guard let call = Self.call(body, argumentKeys: ["arguments", "parameters"]) else { ok = false; break }
                found.append(call)
                rest = end.map { after[$0.upperBound...] } ?? after[after.endIndex...]
            }
            calls = ok ? found : nil
        case .llama3:
            var body = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if body.hasPrefix("<|python_tag|>") { body.removeFirst("<|python_tag|>".count) }
            let parts = body.split(separator: ";").map { String($0) }
            let parsed = parts.compactMap { Self.call($0, argumentKeys: ["parameters", "arguments"]) }
            calls = parsed.count == parts.count && !parsed.isEmpty ? parsed : nil
        case .mistral:
            var body = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if let marker = body.range(of: "[TOOL_CALLS]") {
                content = String(body[..<marker.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
                body = String(body[marker.upperBound...])
            }
            calls = Self.callArray(body, argumentKeys: ["arguments", "parameters"])
        }
        guard let calls, !calls.isEmpty else { return (text, []) }
        return (content?.isEmpty == false ? content : nil, calls)
    }

    /// One `{"name": …, "<argumentKey>": {…}}` object; arguments keep their text and key order.
    static func call(_ json: String, argumentKeys: [String]) -> ToolCall? {
        let text = json.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let name = JSONMember.string(at: ["name"], in: text) else { return nil }
        for key in argumentKeys {
            if let s = JSONMember.string(at: [key], in: text) { return ToolCall(name: name, arguments: s) }
            if let args = JSONMember.text(at: [key], in: text) { return ToolCall(name: name, arguments: args) }
        }
        return ToolCall(name: name, arguments: "{}")
    }

    /// A JSON array of call objects.
    static func callArray(_ json: String, argumentKeys: [String]) -> [ToolCall]? {
        guard JSONMember.text(at: [], in: json)?.hasPrefix("[") == true else { return nil }
        var calls: [ToolCall] = []
        var i = 0
        while let item = JSONMember.text(at: [String(i)], in: json) {
            guard let call = call(item, argumentKeys: argumentKeys) else { return nil }
            calls.append(call)
            i += 1
        }
        return calls
    }
}

/// What a chat request's `tools`, `tool_choice` and `parallel_tool_calls` ask of generation and of
/// the answer: with `required` or a named function the output is constrained to a valid call
/// (vLLM's way: a JSON array of `{"name", "parameters"}` objects, or the named function's
/// arguments); with `auto` the model's own format is parsed; with `none` nothing is parsed.
struct ToolPlan: Sendable {
    enum Mode: Sendable, Equatable { case none, auto, required, named(String) }

    var mode: Mode
    var format: ToolCallFormat
    var grammar: GrammarSpec?

    init?(tools: [ToolDefinition]?, choice: ToolChoice?, parallel: Bool?, body: String, format: ToolCallFormat) throws(APIError) {
        guard let tools, !tools.isEmpty else {
            if let choice, choice != .none {
                throw .invalidRequest("tool_choice needs a non-empty 'tools' list", param: "tool_choice")
            }
            return nil
        }
        for (i, tool) in tools.enumerated() where tool.type != "function" {
            throw .invalidRequest("tools[\(i)].type must be 'function', got '\(tool.type)'", param: "tools[\(i)].type")
        }
        self.format = format
        func parameters(_ i: Int) -> String {
            JSONMember.text(at: ["tools", String(i), "function", "parameters"], in: body) ?? #"{"type":"object"}"#
        }
        switch choice ?? .auto {
        case .none: mode = .none
        case .auto: mode = .auto
        case .required:
            mode = .required
            let options = tools.indices.map { i in
                #"{"type":"object","properties":{"name":{"const":\#(JSONMember.quote(tools[i].function.name))},"parameters":\#(parameters(i))},"required":["name","parameters"],"additionalProperties":false}"#
            }
            let most = parallel == false ? #","maxItems":1"# : ""
            grammar = .jsonSchema(#"{"type":"array","minItems":1\#(most),"items":{"anyOf":[\#(options.joined(separator: ","))]}}"#)
        case let .named(name):
            guard let i = tools.firstIndex(where: { $0.function.name == name }) else {
                throw .invalidRequest(
                    "tool_choice names the function '\(name)', which is not in 'tools' (\(tools.map(\.function.name).joined(separator: ", ")))",
                    param: "tool_choice")
            }
            mode = .named(name)
            grammar = .jsonSchema(parameters(i))
        }
        if let grammar {
            do { _ = try grammar.grammar() } catch {
                throw .invalidRequest("the parameters schema of a tool cannot constrain output: \(error.message)", param: "tools", code: "unsupported_schema")
            }
        }
    }

    /// The answer's content and tool calls for the generated `text`.
    func result(_ text: String) -> (content: String?, calls: [ToolCall]) {
        switch mode {
        case .none: return (text, [])
        case .auto: return format.parse(text)
        case let .named(name): return (nil, [ToolCall(name: name, arguments: text)])
        case .required:
            let calls = ToolCallFormat.callArray(text, argumentKeys: ["parameters"]) ?? []
            return calls.isEmpty ? (text, []) : (nil, calls)
        }
    }
}
