import ChatTemplates
import ServingAPI

/// Renders chat messages into a prompt with the model's chat template, and collects their images.
///
/// Templates that look at content parts (multimodal ones such as Qwen2-VL's) receive the parts as
/// `{"type": "text", "text": …}` and `{"type": "image"}` objects, as transformers' processors pass
/// them; other templates receive one string per message, with the model's image placeholder where
/// each image was and text parts joined by newlines. Plain-string content is passed to the former as
/// a single text part.
struct ChatPromptBuilder: Sendable {
    /// The template's Jinja text.
    let source: String
    let template: ChatTemplate
    let usesContentParts: Bool
    /// Whether the template renders tool calls itself; others get an empty string for a null content.
    let rendersToolCalls: Bool
    /// How this model family writes tool calls.
    let toolCallFormat: ToolCallFormat
    let imagePlaceholder: String?
    /// `bos_token` and `eos_token`, which templates may print.
    let specialTokens: [String: TemplateValue]

    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

    init(source: String, model: ServedModel) throws(APIError) {
        self.source = source
        do {
            template = try ChatTemplate(source)
        } catch {
            throw .internalError("the model's chat template cannot be parsed: \(error)")
        }
        usesContentParts = source.contains("'image'") || source.contains("\"image\"")
        rendersToolCalls = source.contains("tool_calls")
        toolCallFormat = ToolCallFormat(template: source)
        imagePlaceholder = model.imagePlaceholder
        var tokens: [String: TemplateValue] = [:]
        let tokenizer = model.tokenizer
        if let id = tokenizer.bosTokenId, let text = tokenizer.token(forId: id) { tokens["bos_token"] = .string(text) }
        if let id = tokenizer.eosTokenId, let text = tokenizer.token(forId: id) { tokens["eos_token"] = .string(text) }
        specialTokens = tokens
    }

    struct Prompt: Sendable {
        /// The rendered prompt; the model's image placeholder typed by a client as text stands here
        /// as `literalPlaceholder`.
        var text: String
        var images: [ImageLoader.Reference]
        /// A string no client can guess, standing for image-placeholder text typed in a message:
        /// only image parts make image slots, so that text is tokenized as plain text.
        var literalPlaceholder: String?
    }

    /// Renders `messages`, with `tools` (the request's `tools` array as sent) for templates that list them.
    func render(_ messages: [ChatMessage], tools: TemplateValue? = nil) throws(APIError) -> Prompt {
        guard !messages.isEmpty else {
            throw .invalidRequest("'messages' must contain at least one message", param: "messages")
        }
        let literal = imagePlaceholder.map { _ in "\u{E000}tessera-literal-image-\(UInt64.random(in: .min ... .max))\u{E001}" }
        /// A message's text with typed placeholders swapped for the literal marker.
        func text(_ text: String) -> String {
            guard let imagePlaceholder, let literal, text.contains(imagePlaceholder) else { return text }
            return text.replacingOccurrences(of: imagePlaceholder, with: literal)
        }
        var images: [ImageLoader.Reference] = []
        var values: [TemplateValue] = []
        for (i, message) in messages.enumerated() {
            guard Self.roles.contains(message.role) else {
                throw .invalidRequest(
                    "messages[\(i)].role must be one of \(Self.roles.sorted().joined(separator: ", ")), got '\(APIError.excerpt(message.role))'",
                    param: "messages[\(i)].role")
            }
            var pairs: [(String, TemplateValue)] = [("role", .string(message.role))]
            switch message.content {
            case nil:
                // As vLLM: no parts for templates that iterate them; a string for templates that
                // concatenate it and know nothing of tool calls.
                pairs.append(("content", usesContentParts ? .array([]) : rendersToolCalls ? .none : .string("")))
            case let .text(string):
                // A plain string becomes one text part for templates that only iterate parts (LLaVA's
                // would drop it), as vLLM does.
                let string = text(string)
                let part = TemplateValue.object([("type", "text"), ("text", .string(string))])
                pairs.append(("content", usesContentParts ? .array([part]) : .string(string)))
            case let .parts(parts):
                pairs.append(("content", try content(parts, message: i, images: &images, text: text)))
            }
            if let name = message.name { pairs.append(("name", .string(text(name)))) }
            if let calls = message.toolCalls {
                // Templates print arguments with `tojson`, so they get the parsed object, as transformers does.
                pairs.append(("tool_calls", .array(calls.map { call in
                    let arguments = (try? TemplateValue(json: call.function.arguments)) ?? .string(call.function.arguments)
                    return .object([
                        ("id", call.id.map { .string($0) } ?? .none), ("type", .string(call.type ?? "function")),
                        ("function", .object([("name", .string(call.function.name)), ("arguments", arguments)])),
                    ])
                })))
            }
            if let id = message.toolCallId { pairs.append(("tool_call_id", .string(id))) }
            values.append(.object(pairs))
        }
        var toolList: [TemplateValue]?
        if case let .array(items)? = tools { toolList = items }
        do {
            let text = try template.render(messages: values, tools: toolList, addGenerationPrompt: true, extra: specialTokens)
            return Prompt(text: text, images: images, literalPlaceholder: literal)
        } catch {
            throw .invalidRequest("the chat template could not render these messages: \(error)", param: "messages")
        }
    }

    private func content(
        _ parts: [ContentPart], message: Int, images: inout [ImageLoader.Reference], text: (String) -> String
    ) throws(APIError) -> TemplateValue {
        var structured: [TemplateValue] = []
        var pieces: [String] = []
        for (j, part) in parts.enumerated() {
            switch part {
            case let .text(string):
                let string = text(string)
                structured.append(.object([("type", "text"), ("text", .string(string))]))
                pieces.append(string)
            case let .imageURL(url):
                let param = "messages[\(message)].content[\(j)].image_url"
                guard let imagePlaceholder else {
                    throw .invalidRequest("this model does not accept images (\(param))", param: param, code: "images_not_supported")
                }
                images.append(.init(url: url, param: param))
                structured.append(.object([("type", "image")]))
                pieces.append(imagePlaceholder)
            }
        }
        return usesContentParts ? .array(structured) : .string(pieces.joined(separator: "\n"))
    }
}
