import Foundation

/// A Hugging Face chat template, parsed once and rendered per conversation.
///
/// It implements the Jinja subset that model chat templates use and renders the way transformers does
/// (`trim_blocks` and `lstrip_blocks` on, `raise_exception`, `strftime_now`, `namespace`, a `tojson`
/// without HTML escaping).
///
/// ```swift
/// let template = try ChatTemplate("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}")
/// let prompt = try template.render(messages: [["role": "user", "content": "Hi"]], addGenerationPrompt: true)
/// ```
public struct ChatTemplate: Sendable {
    private let nodes: [Node]

    /// Parses `source`; throws ``ChatTemplateError/syntax(message:line:)`` or
    /// ``ChatTemplateError/unsupported(construct:line:)``.
    public init(_ source: String) throws {
        nodes = try Parser.parse(source)
    }

    /// Renders with `context` as the template's variables; `strftime_now` reads the system clock.
    public func render(_ context: [String: TemplateValue]) throws -> String {
        try render(context, clock: .system)
    }

    /// Renders with `context`, taking the time for `strftime_now` from `clock`.
    public func render(_ context: [String: TemplateValue], clock: Clock) throws -> String {
        try Renderer(clock: clock).render(nodes, context: context)
    }

    /// Renders a conversation with the variables transformers' `apply_chat_template` provides:
    /// `messages`, `tools` (none when absent), `documents` (none), `add_generation_prompt`, and `extra`
    /// (typically `bos_token`, `eos_token` and template switches such as `add_vision_id`).
    public func render(
        messages: [TemplateValue],
        tools: [TemplateValue]? = nil,
        addGenerationPrompt: Bool,
        extra: [String: TemplateValue] = [:],
        clock: Clock = .system
    ) throws -> String {
        var context = extra
        context["messages"] = .array(messages)
        context["tools"] = tools.map(TemplateValue.array) ?? TemplateValue.none
        context["documents"] = TemplateValue.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        return try render(context, clock: clock)
    }
}
