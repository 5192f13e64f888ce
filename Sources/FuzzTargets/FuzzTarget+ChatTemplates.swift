import ChatTemplates
import Foundation

/// A fixed `strftime_now`, so a rendering depends on the input alone.
private let fixedClock = ChatTemplates.Clock(now: Date(timeIntervalSince1970: 1_700_000_000), timeZone: TimeZone(identifier: "UTC")!)

extension FuzzTarget {
    /// The Jinja subset of chat templates: the bytes up to the first zero byte are a template's
    /// source, the rest a user message's text. Any source parses or is refused with an error, and
    /// one that parses renders a conversation (with tools) or fails with an error, in bounded time.
    static func chatTemplate(fixtures: URL) -> FuzzTarget {
        FuzzTarget(name: "chat-template", seeds: files(in: fixtures.appendingPathComponent("chat_templates"), extensions: ["jinja"])) { bytes in
            let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
            let source = String(decoding: bytes[..<split], as: UTF8.self)
            let text = split < bytes.endIndex ? String(decoding: bytes[(split + 1)...], as: UTF8.self) : "Describe the image."
            guard let template = try? ChatTemplate(source) else { return }
            let tool: TemplateValue = ["type": "function", "function": [
                "name": "get_weather", "description": "Weather in a city",
                "parameters": ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]],
            ]]
            let messages: [TemplateValue] = [
                ["role": "system", "content": "You are terse."],
                ["role": "user", "content": .array([["type": "image"], ["type": "text", "text": .string(text)]])],
                ["role": "assistant", "content": "Sunny.", "tool_calls": [["type": "function", "function": ["name": "get_weather", "arguments": ["city": "Oslo"]]]]],
                ["role": "tool", "content": "{\"temperature\": 21}"],
                ["role": "user", "content": .string(text)],
            ]
            _ = try? template.render(messages: messages, tools: [tool], addGenerationPrompt: true,
                                     extra: ["bos_token": "<s>", "eos_token": "</s>"], clock: fixedClock)
        }
    }
}
