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

    init(id: String = ToolCall.newID(), name: String, arguments: String) {
        self.id = id
        function = Function(name: name, arguments: arguments)
    }

    static func newID() -> String {
        "call_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    }
}

/// A piece of a streamed tool call: the first of a call names it (`id`, `type: "function"`,
/// `function.name`), the later ones carry the next fragment of its arguments.
struct ToolCallDelta: Encodable, Sendable, Equatable {
    var index: Int
    var id: String?
    var name: String?
    var arguments: String

    init(index: Int, id: String? = nil, name: String? = nil, arguments: String) {
        self.index = index
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    enum CodingKeys: String, CodingKey { case index, id, type, function }
    enum FunctionKeys: String, CodingKey { case name, arguments }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        if let id {
            try c.encode(id, forKey: .id)
            try c.encode("function", forKey: .type)
        }
        var function = c.nestedContainer(keyedBy: FunctionKeys.self, forKey: .function)
        try function.encodeIfPresent(name, forKey: .name)
        try function.encode(arguments, forKey: .arguments)
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

    /// `body` is the request as sent; each tool's parameters schema is read from it verbatim (key
    /// order kept) at `tools[i]` + `parametersPath` (chat completions nest it in `function`).
    init?(tools: [ToolDefinition]?, choice: ToolChoice?, parallel: Bool?, body: String, format: ToolCallFormat,
          parametersPath: [String] = ["function", "parameters"]) throws(APIError) {
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
            JSONMember.text(at: ["tools", String(i)] + parametersPath, in: body) ?? #"{"type":"object"}"#
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

    /// The generated `text` as content and calls, whole (`final`) or as far as it has come.
    func read(_ text: String, final: Bool) -> ToolCallReading {
        switch mode {
        case .none: return ToolCallReading(content: text)
        case .auto: return format.read(text, final: final)
        case let .named(name): return ToolCallReading(content: "", calls: [PartialToolCall(name: name, arguments: text)])
        case .required:
            var scanner = ToolCallScanner(text, argumentKeys: ["parameters"])
            let (calls, _) = scanner.callArray()
            return calls.isEmpty ? ToolCallReading(content: final ? text : "") : ToolCallReading(content: "", calls: calls)
        }
    }

    /// The answer's content (nil beside calls when empty) and tool calls for the generated `text`.
    func result(_ text: String) -> (content: String?, calls: [ToolCall]) {
        let reading = read(text, final: true)
        guard !reading.calls.isEmpty else { return (reading.content, []) }
        return (reading.content.isEmpty ? nil : reading.content, reading.calls.map { ToolCall(name: $0.name, arguments: $0.arguments) })
    }
}
