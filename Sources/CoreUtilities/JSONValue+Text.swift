extension JSONValue {
    /// Compact JSON text (no spaces), object members in document order.
    ///
    /// ```swift
    /// try JSONParser.parse(Array(#"{"b": [1, 2.5], "a": "x"}"#.utf8)).serialized  // {"b":[1,2.5],"a":"x"}
    /// ```
    public var serialized: String {
        switch self {
        case .null: "null"
        case let .bool(b): b ? "true" : "false"
        case let .int(n): String(n)
        // Swift's shortest round-trip form (`0.1`, `1e+21`) is valid JSON for every finite value.
        case let .double(x): x.description
        case let .string(s): Self.quote(s)
        case let .array(items): "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case let .object(members): "{" + members.map { Self.quote($0.key) + ":" + $0.value.serialized }.joined(separator: ",") + "}"
        }
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped (`\n`,
    /// `\r`, `\t`, the others as `\u00XX`). `python` writes it as Python's `json.dumps` does: `\b` and
    /// `\f` short too, and with `ensureASCII` every scalar outside printable ASCII as `\uXXXX` (a
    /// UTF-16 surrogate pair above U+FFFF).
    ///
    /// ```swift
    /// JSONValue.quote("é\u{8}", python: true, ensureASCII: true)  // #""\u00e9\b""#
    /// ```
    public static func quote(_ text: String, python: Bool = false, ensureASCII: Bool = false) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{08}" where python: out += "\\b"
            case "\u{0C}" where python: out += "\\f"
            case _ where scalar.value < 0x20 || (ensureASCII && scalar.value > 0x7E):
                if scalar.value > 0xFFFF {
                    let offset = scalar.value - 0x10000
                    out += hex4(0xD800 + (offset >> 10)) + hex4(0xDC00 + (offset & 0x3FF))
                } else {
                    out += hex4(scalar.value)
                }
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
    }

    /// The value at `path` (object keys; integer components index arrays), or nil.
    ///
    /// ```swift
    /// body.value(at: ["tools", "0", "function", "parameters"])
    /// ```
    public func value(at path: [String]) -> JSONValue? {
        var node = self
        for key in path {
            if case let .array(items) = node, let i = Int(key) {
                guard items.indices.contains(i) else { return nil }
                node = items[i]
            } else {
                guard let next = node[key] else { return nil }
                node = next
            }
        }
        return node
    }
}

/// Decoding from a `Decoder`, for request fields read only for their presence and shape: a
/// `Decoder` does not promise object members in document order; parse with `JSONParser` where
/// order matters.
extension JSONValue: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Int.self) { self = .int(n) }
        else if let x = try? c.decode(Double.self) { self = .double(x) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else {
            let object = try decoder.container(keyedBy: AnyCodingKey.self)
            self = .object(try object.allKeys.map { ($0.stringValue, try object.decode(JSONValue.self, forKey: $0)) })
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
