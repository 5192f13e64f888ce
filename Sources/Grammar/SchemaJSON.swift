/// A JSON document as JSON Schema conversion reads it: object members in document order (so
/// generated objects list properties in the order the schema declares them), numbers with
/// their source text (so `enum` and `const` values are reproduced exactly).
enum SchemaJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([SchemaJSON])
    case object([(key: String, value: SchemaJSON)])

    static func == (a: SchemaJSON, b: SchemaJSON) -> Bool { a.serialized == b.serialized }

    subscript(key: String) -> SchemaJSON? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// Compact JSON text, as constrained generation writes it.
    var serialized: String {
        switch self {
        case .null: "null"
        case let .bool(b): b ? "true" : "false"
        case let .number(text): text
        case let .string(s): Self.quote(s)
        case let .array(items): "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case let .object(members): "{" + members.map { Self.quote($0.key) + ":" + $0.value.serialized }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func parse(_ text: String) throws(GrammarError) -> SchemaJSON {
        var p = Reader(s: Array(text.utf8))
        let v = try p.value()
        p.skipSpace()
        guard p.at == p.s.count else { throw p.error("trailing characters") }
        return v
    }

    struct Reader {
        let s: [UInt8]
        var at = 0

        func error(_ what: String) -> GrammarError { GrammarError("schema is not valid JSON: \(what) at byte \(at)") }

        mutating func skipSpace() {
            while at < s.count, [0x20, 0x09, 0x0A, 0x0D].contains(s[at]) { at += 1 }
        }

        mutating func expect(_ word: String) throws(GrammarError) {
            let bytes = Array(word.utf8)
            guard at + bytes.count <= s.count, Array(s[at ..< at + bytes.count]) == bytes else { throw error("expected \(word)") }
            at += bytes.count
        }

        mutating func value() throws(GrammarError) -> SchemaJSON {
            skipSpace()
            guard at < s.count else { throw error("unexpected end") }
            switch s[at] {
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "["):
                at += 1
                var items: [SchemaJSON] = []
                skipSpace()
                if at < s.count, s[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                while true {
                    items.append(try value())
                    skipSpace()
                    guard at < s.count else { throw error("unterminated array") }
                    at += 1
                    if s[at - 1] == UInt8(ascii: "]") { return .array(items) }
                    guard s[at - 1] == UInt8(ascii: ",") else { throw error("expected ',' or ']'") }
                }
            case UInt8(ascii: "{"):
                at += 1
                var members: [(key: String, value: SchemaJSON)] = []
                skipSpace()
                if at < s.count, s[at] == UInt8(ascii: "}") { at += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard at < s.count, s[at] == UInt8(ascii: "\"") else { throw error("expected a key") }
                    let key = try string()
                    skipSpace()
                    try expect(":")
                    members.append((key, try value()))
                    skipSpace()
                    guard at < s.count else { throw error("unterminated object") }
                    at += 1
                    if s[at - 1] == UInt8(ascii: "}") { return .object(members) }
                    guard s[at - 1] == UInt8(ascii: ",") else { throw error("expected ',' or '}'") }
                }
            default:
                let start = at
                while at < s.count, "+-0123456789.eE".utf8.contains(s[at]) { at += 1 }
                let text = String(decoding: s[start ..< at], as: UTF8.self)
                guard !text.isEmpty, Double(text) != nil else { throw error("unexpected character") }
                return .number(text)
            }
        }

        mutating func string() throws(GrammarError) -> String {
            at += 1
            var bytes: [UInt8] = []
            while at < s.count, s[at] != UInt8(ascii: "\"") {
                if s[at] == UInt8(ascii: "\\"), at + 1 < s.count {
                    at += 1
                    switch s[at] {
                    case UInt8(ascii: "n"): bytes.append(0x0A)
                    case UInt8(ascii: "t"): bytes.append(0x09)
                    case UInt8(ascii: "r"): bytes.append(0x0D)
                    case UInt8(ascii: "b"): bytes.append(0x08)
                    case UInt8(ascii: "f"): bytes.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard at + 4 < s.count, var v = UInt32(String(decoding: s[at + 1 ... at + 4], as: UTF8.self), radix: 16) else {
                            throw error("bad \\u escape")
                        }
                        at += 4
                        // A surrogate pair.
                        if (0xD800 ..< 0xDC00).contains(v), at + 6 < s.count, s[at + 1] == UInt8(ascii: "\\"), s[at + 2] == UInt8(ascii: "u"),
                           let low = UInt32(String(decoding: s[at + 3 ... at + 6], as: UTF8.self), radix: 16) {
                            v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                            at += 6
                        }
                        bytes += Array(String(Unicode.Scalar(v).map(Character.init) ?? "\u{FFFD}").utf8)
                    default: bytes.append(s[at])
                    }
                } else {
                    bytes.append(s[at])
                }
                at += 1
            }
            guard at < s.count else { throw error("unterminated string") }
            at += 1
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

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
        guard var node = try? SchemaJSON.parse(document) else { return nil }
        for key in path {
            if case let .array(items) = node, let i = Int(key) {
                guard items.indices.contains(i) else { return nil }
                node = items[i]
                continue
            }
            guard let next = node[key] else { return nil }
            node = next
        }
        return node.serialized
    }

    /// The string at `path` itself (not its JSON form); nil when absent or not a string.
    public static func string(at path: [String], in document: String) -> String? {
        guard let text = text(at: path, in: document), case let .string(s)? = try? SchemaJSON.parse(text) else { return nil }
        return s
    }

    /// `text` as a JSON string literal.
    public static func quote(_ text: String) -> String { SchemaJSON.quote(text) }
}
