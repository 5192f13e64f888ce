import CoreUtilities

/// When Metaspace adds its replacement character in front of a piece.
enum PrependScheme: String, Sendable {
    /// Before every piece.
    case always
    /// Only before the piece at the very start of the input.
    case first
    /// Never.
    case never

    /// Reads `prepend_scheme`, falling back to the legacy `add_prefix_space` flag.
    static func parse(_ json: JSONValue, at path: String) throws(TokenizerError) -> PrependScheme {
        if let raw = try json.optionalString("prepend_scheme", at: path) {
            guard let scheme = PrependScheme(rawValue: raw) else {
                throw .invalidField(path: "\(path).prepend_scheme", expected: "\"always\", \"first\" or \"never\"")
            }
            return scheme
        }
        return try json.optionalBool("add_prefix_space", default: true, at: path) ? .always : .never
    }
}
