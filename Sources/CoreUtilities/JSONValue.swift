/// A parsed JSON document, kept close to the source text.
///
/// Objects keep their members in document order as raw pairs: Swift `String`
/// equality is canonical, so a `[String: …]` dictionary would silently merge
/// vocabulary entries such as `"é"` (U+00E9) and `"e\u{301}"` that a tokenizer
/// treats as distinct tokens.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits an `Int`.
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The member named `key` (first occurrence), or `nil` when absent or not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as an exact integer (`2.0` and `2e3` included); `nil` for fractions or out-of-range numbers.
    public var int: Int? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value == value.rounded() && abs(value) < 9_007_199_254_740_992: return Int(value)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    public var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var members: [(key: String, value: JSONValue)]? {
        if case .object(let value) = self { return value }
        return nil
    }
}
