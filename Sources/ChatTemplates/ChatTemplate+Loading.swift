import Foundation

extension ChatTemplate {
    /// Loads the chat template shipped with a model, looking where transformers looks:
    /// `chat_template.jinja`, then `chat_template.json` (`{"chat_template": …}`), then the
    /// `chat_template` entry of `tokenizer_config.json`, which is either a string or a list of
    /// `{"name", "template"}` pairs.
    ///
    /// - Parameter name: a named template such as `"tool_use"` from that list or from
    ///   `additional_chat_templates/<name>.jinja`; `nil` picks the default one.
    ///
    /// ```swift
    /// let template = try ChatTemplate(modelDirectory: URL(fileURLWithPath: "/models/Qwen2-VL-2B-Instruct"))
    /// ```
    public init(modelDirectory: URL, name: String? = nil) throws {
        try self.init(try Self.source(modelDirectory: modelDirectory, name: name))
    }

    /// The template text `init(modelDirectory:name:)` would parse.
    public static func source(modelDirectory: URL, name: String? = nil) throws -> String {
        let fileManager = FileManager.default
        func file(_ relative: String) -> URL? {
            let url = modelDirectory.appendingPathComponent(relative)
            return fileManager.fileExists(atPath: url.path) ? url : nil
        }
        func text(_ url: URL) throws -> String {
            do {
                return try String(contentsOf: url, encoding: .utf8)
            } catch {
                throw ChatTemplateError.notFound(message: "cannot read \(url.path): \(error.localizedDescription)")
            }
        }
        if let name, name != "default" {
            if let url = file("additional_chat_templates/\(name).jinja") { return try text(url) }
        } else {
            if let url = file("chat_template.jinja") { return try text(url) }
            if let url = file("chat_template.json"),
               case let .string(source)? = try TemplateValue(json: try text(url))["chat_template"] {
                return source
            }
        }
        if let url = file("tokenizer_config.json") {
            switch try TemplateValue(json: try text(url))["chat_template"] {
            case let .string(source)? where name == nil || name == "default":
                return source
            case let .array(entries)?:
                let wanted = name ?? "default"
                for entry in entries {
                    if case .string(wanted)? = entry["name"], case let .string(source)? = entry["template"] { return source }
                }
            default:
                break
            }
        }
        let which = name.map { "chat template '\($0)'" } ?? "chat template"
        throw ChatTemplateError.notFound(message: "no \(which) in \(modelDirectory.path)")
    }
}
