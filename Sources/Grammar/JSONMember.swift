import CoreUtilities

/// Reads a member out of a JSON document as compact JSON text, keeping the order of object
/// members (a schema's property order decides the order constrained output writes them in).
/// Path components that are integers index arrays.
///
/// ```swift
/// JSONMember.text(at: ["response_format", "json_schema", "schema"], in: body)  // #"{"type":"object",…}"#
/// JSONMember.text(at: ["tools", "0", "function", "parameters"], in: body)
/// ```
public enum JSONMember {
    public static func text(at path: [String], in document: String) -> String? {
        (try? JSONParser.parse(Array(document.utf8)))?.value(at: path)?.serialized
    }

    /// The string at `path` itself (not its JSON form); nil when absent or not a string.
    public static func string(at path: [String], in document: String) -> String? {
        (try? JSONParser.parse(Array(document.utf8)))?.value(at: path)?.string
    }

    /// `text` as a JSON string literal.
    public static func quote(_ text: String) -> String { JSONValue.quote(text) }
}

extension JSONValue {
    /// A JSON Schema document; its syntax errors are grammar errors.
    static func schema(_ text: String) throws(GrammarError) -> JSONValue {
        do { return try JSONParser.parse(Array(text.utf8)) } catch { throw GrammarError("schema is not valid JSON: \(error)") }
    }
}
