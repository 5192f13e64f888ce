/// A parsed JSON document, kept close to the source text.
///
/// Objects keep their members in document order as raw pairs: Swift `String`
/// equality is canonical, so a `[String: …]` dictionary would silently merge
/// vocabulary entries such as `"é"` (U+00E9) and `"e\u{301}"` that a tokenizer
/// treats as distinct tokens.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The member named `key` (first occurrence), or `nil` when absent or not an object.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as an exact integer; `nil` for fractions or out-of-range numbers.
    var int: Int? {
        guard case .number(let value) = self, value == value.rounded(),
              abs(value) < 9_007_199_254_740_992 else { return nil }
        return Int(value)
    }

    var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    var members: [(key: String, value: JSONValue)]? {
        if case .object(let value) = self { return value }
        return nil
    }
}
