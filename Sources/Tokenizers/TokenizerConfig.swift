import CoreUtilities

/// The parts of `tokenizer_config.json` (and `chat_template.*`) the tokenizer uses.
struct TokenizerConfig: Sendable {
    var bosToken: String?
    var eosToken: String?
    var padToken: String?
    var unknownToken: String?
    /// `model_max_length` (CLIP: 77), when it is a usable integer.
    var modelMaxLength: Int?
    var addBosToken: Bool?
    var addEosToken: Bool?
    var chatTemplate: String?

    init() {}

    init(json: JSONValue) throws(TokenizerError) {
        let path = "tokenizer_config"
        bosToken = try Self.tokenContent(json, key: "bos_token")
        eosToken = try Self.tokenContent(json, key: "eos_token")
        padToken = try Self.tokenContent(json, key: "pad_token")
        unknownToken = try Self.tokenContent(json, key: "unk_token")
        if let length = json.optional("model_max_length")?.int, length > 0 { modelMaxLength = length }
        if json.optional("add_bos_token") != nil {
            addBosToken = try json.optionalBool("add_bos_token", default: false, at: path)
        }
        if json.optional("add_eos_token") != nil {
            addEosToken = try json.optionalBool("add_eos_token", default: false, at: path)
        }
        chatTemplate = try Self.chatTemplate(json.optional("chat_template"), at: "\(path).chat_template")
    }

    /// A token given as a plain string or as an `AddedToken` object with `content`.
    static func tokenContent(_ json: JSONValue, key: String) throws(TokenizerError) -> String? {
        guard let value = json.optional(key) else { return nil }
        if let string = value.string { return string }
        if value.members != nil { return try value.requiredString("content", at: "tokenizer_config.\(key)") }
        throw .invalidField(path: "tokenizer_config.\(key)", expected: "a string or an object with `content`")
    }

    /// A template string, or from a list of `{name, template}` the one named `default`.
    static func chatTemplate(_ value: JSONValue?, at path: String) throws(TokenizerError) -> String? {
        guard let value else { return nil }
        if let template = value.string { return template }
        guard let entries = value.array else {
            throw .invalidField(path: path, expected: "a string or a list of named templates")
        }
        for (index, entry) in entries.enumerated() {
            let entryPath = "\(path)[\(index)]"
            if try entry.requiredString("name", at: entryPath) == "default" {
                return try entry.requiredString("template", at: entryPath)
            }
        }
        return nil
    }
}
