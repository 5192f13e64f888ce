import CoreUtilities
import Foundation

extension Tokenizer {
    /// Loads `tokenizer.json` from `directory`, plus `tokenizer_config.json` and a
    /// `chat_template.jinja` / `chat_template.json` when present.
    ///
    /// - Throws: `TokenizerError`, e.g. `.fileNotFound` when `tokenizer.json` is missing.
    public static func load(directory: URL) throws -> Tokenizer {
        let tokenizerJSON = try read(directory.appendingPathComponent("tokenizer.json"))
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let configJSON = FileManager.default.fileExists(atPath: configURL.path) ? try read(configURL) : nil

        var chatTemplate: String? = nil
        let jinjaURL = directory.appendingPathComponent("chat_template.jinja")
        let templateJSONURL = directory.appendingPathComponent("chat_template.json")
        if FileManager.default.fileExists(atPath: jinjaURL.path) {
            let data = try read(jinjaURL)
            guard let text = String(validating: data, as: UTF8.self) else {
                throw TokenizerError.unreadableFile(jinjaURL, underlying: "not valid UTF-8")
            }
            chatTemplate = text
        } else if FileManager.default.fileExists(atPath: templateJSONURL.path) {
            let json = try parse(try read(templateJSONURL), file: "chat_template.json")
            chatTemplate = try TokenizerConfig.chatTemplate(json.optional("chat_template"), at: "chat_template.json.chat_template")
        }
        return try Tokenizer(tokenizerJSON: tokenizerJSON, tokenizerConfigJSON: configJSON, chatTemplate: chatTemplate)
    }

    /// Builds a tokenizer from the contents of `tokenizer.json` and, optionally, `tokenizer_config.json`.
    ///
    /// - Throws: `TokenizerError` for malformed JSON, unsupported components or inconsistent vocabularies.
    public convenience init(tokenizerJSON: Data, tokenizerConfigJSON: Data? = nil) throws {
        try self.init(tokenizerJSON: tokenizerJSON, tokenizerConfigJSON: tokenizerConfigJSON, chatTemplate: nil)
    }

    /// - Parameter chatTemplate: overrides the config's template (from a `chat_template.*` file).
    convenience init(tokenizerJSON: Data, tokenizerConfigJSON: Data?, chatTemplate: String?) throws(TokenizerError) {
        let root = try Self.parse(tokenizerJSON, file: "tokenizer.json")
        guard root.members != nil else { throw .invalidField(path: "tokenizer.json", expected: "a JSON object") }
        var config = TokenizerConfig()
        if let tokenizerConfigJSON {
            config = try TokenizerConfig(json: try Self.parse(tokenizerConfigJSON, file: "tokenizer_config.json"))
        }
        if let chatTemplate { config.chatTemplate = chatTemplate }
        try self.init(root: root, config: config)
    }

    private static func read(_ url: URL) throws(TokenizerError) -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .fileNotFound(url) }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw .unreadableFile(url, underlying: error.localizedDescription)
        }
    }

    private static func parse(_ data: Data, file: String) throws(TokenizerError) -> JSONValue {
        do {
            return try JSONParser.parse([UInt8](data))
        } catch {
            throw .malformedJSON(file: file, offset: error.offset, message: error.message)
        }
    }
}
