import CoreUtilities
import Foundation

/// The body of `POST /v1/responses` (OpenAI's Responses API), the text and image subset: `input`
/// as a string or a list of messages whose content is a string or `input_text` / `input_image` /
/// `output_text` parts, `instructions`, `max_output_tokens`, sampling, `text.format`, `stream`.
struct ResponsesRequest: Decodable, Sendable {
    struct InputMessage: Decodable, Sendable {
        var type: String?
        var role: String
        var content: InputContent
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
        case messages([InputMessage])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let text = try? c.decode(String.self) { self = .text(text) } else { self = .messages(try c.decode([InputMessage].self)) }
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, input, instructions, temperature, stream, text, seed
        case maxOutputTokens = "max_output_tokens"
        case topP = "top_p"
    }

    /// Every top-level member this endpoint reads.
    static var fields: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    /// The conversation as chat messages: `instructions` first as a system message.
    func messages() throws(APIError) -> [ChatMessage] {
        var out: [ChatMessage] = []
        if let instructions { out.append(ChatMessage(role: "system", content: .text(instructions))) }
        switch input {
        case let .text(text):
            out.append(ChatMessage(role: "user", content: .text(text)))
        case let .messages(items):
            for (i, item) in items.enumerated() {
                if let type = item.type, type != "message" {
                    throw .invalidRequest(
                        "input[\(i)].type '\(type)' is not supported (only messages with text and image content)", param: "input[\(i)].type")
                }
                switch item.content {
                case let .text(text): out.append(ChatMessage(role: item.role, content: .text(text)))
                case let .parts(parts):
                    var converted: [ContentPart] = []
                    for (j, part) in parts.enumerated() {
                        switch (part.type, part.text, part.imageURL) {
                        case ("input_text", let text?, _), ("output_text", let text?, _): converted.append(.text(text))
                        case ("input_image", _, let url?): converted.append(.imageURL(url))
                        default:
                            throw .invalidRequest(
                                "input[\(i)].content[\(j)] of type '\(part.type)' is not supported (input_text, input_image with image_url, output_text)",
                                param: "input[\(i)].content[\(j)]")
                        }
                    }
                    out.append(ChatMessage(role: item.role, content: .parts(converted)))
                }
            }
        }
        return out
    }
}

extension ChatMessage {
    init(role: String, content: MessageContent?) {
        self.role = role
        self.content = content
    }
}
