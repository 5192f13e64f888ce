import CoreUtilities

/// Turns a JSON Schema into a grammar whose every sentence is compact JSON (no whitespace) that
/// validates against the schema, as xgrammar and outlines do for structured outputs.
///
/// Supported: `type` (one or a list), `enum`, `const`, `anyOf`/`oneOf` (as alternatives),
/// `allOf` with one member, `$ref` to `#`, `#/$defs/…` or `#/definitions/…` (recursion allowed);
/// objects with `properties`, `required` and `additionalProperties` (properties are written in
/// schema order, optional ones may be left out; undeclared properties only when the schema
/// declares none); arrays with `items`, `prefixItems`, `minItems`, `maxItems`; strings with
/// `minLength`, `maxLength`, `pattern` and `format` (date-time, date, time, duration, email,
/// uuid, uri, ipv4, ipv6, hostname); numbers and integers (at most 16 significant digits).
/// Annotations (`title`, `description`, `default`, `examples`, …) are ignored. Any other
/// keyword is an error that names it.
///
/// ```swift
/// let g = try JSONSchemaConverter.grammar(schema: #"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"#)
/// ```
public struct JSONSchemaConverter {
    private var rules: [String: GrammarExpression] = [:]
    private let root: JSONValue
    private var refRules: [String: String] = [:]

    public static func grammar(schema text: String) throws(GrammarError) -> Grammar {
        var converter = JSONSchemaConverter(root: try JSONValue.schema(text))
        converter.addJSONValueRules()
        let start = try converter.expression(converter.root, path: "#")
        converter.rules["root"] = start
        return Grammar(rules: converter.rules, start: "root")
    }

    /// Any JSON object (`response_format: {"type": "json_object"}`).
    public static func anyObjectGrammar() -> Grammar {
        var converter = JSONSchemaConverter(root: .object([]))
        converter.addJSONValueRules()
        converter.rules["root"] = .rule("json-object")
        return Grammar(rules: converter.rules, start: "root")
    }

    private init(root: JSONValue) {
        self.root = root
    }

    static let annotations: Set<String> = [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly",
        "$defs", "definitions", "strict", "discriminator", "contentMediaType", "contentEncoding",
    ]
    static let typeKeywords: [String: Set<String>] = [
        "object": ["properties", "required", "additionalProperties"],
        "array": ["items", "prefixItems", "minItems", "maxItems"],
        "string": ["minLength", "maxLength", "pattern", "format"],
        "number": [], "integer": [], "boolean": [], "null": [],
    ]
    static let generalKeywords: Set<String> = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"]

    // MARK: - Generic JSON

    private mutating func addJSONValueRules() {
        let q = GrammarExpression.literal("\"")
        rules["json-char"] = .choice([
            GrammarExpression.utf8Character(ascii: Self.unescapedASCII),
            .sequence([.literal("\\"), .byteSet(ByteSet(Array("\"\\/bfnrt".utf8)))]),
            .sequence([.literal("\\u"), .repetition(.byteSet(ByteSet(Array("0123456789abcdefABCDEF".utf8))), min: 4, max: 4)]),
        ])
        rules["json-string"] = .sequence([q, .star(.rule("json-char")), q])
        let digit = GrammarExpression.byteSet(ByteSet(range: UInt8(ascii: "0") ... UInt8(ascii: "9")))
        let digit19 = GrammarExpression.byteSet(ByteSet(range: UInt8(ascii: "1") ... UInt8(ascii: "9")))
        rules["json-integer"] = .sequence([
            .optional(.literal("-")), .choice([.literal("0"), .sequence([digit19, .repetition(digit, min: 0, max: 15)])]),
        ])
        rules["json-number"] = .sequence([
            .rule("json-integer"),
            .optional(.sequence([.literal("."), .repetition(digit, min: 1, max: 16)])),
            .optional(.sequence([.byteSet(ByteSet(Array("eE".utf8))), .optional(.byteSet(ByteSet(Array("+-".utf8)))), .repetition(digit, min: 1, max: 3)])),
        ])
        rules["json-value"] = .choice([
            .rule("json-object"), .rule("json-array"), .rule("json-string"), .rule("json-number"),
            .literal("true"), .literal("false"), .literal("null"),
        ])
        rules["json-object"] = .sequence([
            .literal("{"),
            .optional(.sequence([.rule("json-member"), .star(.sequence([.literal(","), .rule("json-member")]))])),
            .literal("}"),
        ])
        rules["json-member"] = .sequence([.rule("json-string"), .literal(":"), .rule("json-value")])
        rules["json-array"] = .sequence([
            .literal("["), .optional(.sequence([.rule("json-value"), .star(.sequence([.literal(","), .rule("json-value")]))])), .literal("]"),
        ])
    }

    /// ASCII characters a JSON string holds unescaped.
    static let unescapedASCII = ByteSet(range: 0x20 ... 0x7F).subtracting(ByteSet([UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x7F]))

    /// How pattern literals and classes are written inside a JSON string.
    static let stringContext = RegexParser.Context(
        literal: { scalar in
            let quoted = JSONValue.quote(String(scalar))
            return .bytes(Array(quoted.utf8.dropFirst().dropLast()))
        },
        asciiAllowed: unescapedASCII)

    // MARK: - Schemas

    private mutating func expression(_ schema: JSONValue, path: String) throws(GrammarError) -> GrammarExpression {
        switch schema {
        case let .bool(b):
            guard b else { throw GrammarError("JSON Schema at \(path): the schema 'false' accepts nothing") }
            return .rule("json-value")
        case .object: break
        default: throw GrammarError("JSON Schema at \(path): a schema must be an object or a boolean")
        }
        guard case let .object(members) = schema else { return .rule("json-value") }
        let keys = Set(members.map(\.key))
        var allowed = Self.generalKeywords.union(Self.annotations)
        let types = try self.types(schema, path: path)
        for t in types ?? Array(Self.typeKeywords.keys) { allowed.formUnion(Self.typeKeywords[t] ?? []) }
        if let unknown = members.map(\.key).first(where: { !allowed.contains($0) }) {
            throw GrammarError("unsupported JSON Schema keyword '\(unknown)' at \(path)")
        }

        if let ref = schema["$ref"] {
            guard keys.subtracting(Self.annotations).subtracting(["$ref"]).isEmpty else {
                throw GrammarError("JSON Schema at \(path): '$ref' beside other constraints is not supported")
            }
            guard case let .string(target) = ref else { throw GrammarError("JSON Schema at \(path): '$ref' must be a string") }
            return try reference(target)
        }
        if let value = schema["const"] { return .literal(value.serialized) }
        if let values = schema["enum"] {
            guard case let .array(items) = values, !items.isEmpty else {
                throw GrammarError("JSON Schema at \(path): 'enum' must be a non-empty array")
            }
            return .choice(items.map { .literal($0.serialized) })
        }
        for keyword in ["anyOf", "oneOf", "allOf"] {
            guard let list = schema[keyword] else { continue }
            guard case let .array(items) = list, !items.isEmpty else {
                throw GrammarError("JSON Schema at \(path): '\(keyword)' must be a non-empty array")
            }
            if keyword == "allOf" {
                guard items.count == 1 else { throw GrammarError("JSON Schema at \(path): 'allOf' with more than one schema is not supported") }
                return try expression(items[0], path: path + "/allOf/0")
            }
            var alternatives: [GrammarExpression] = []
            for (i, item) in items.enumerated() { alternatives.append(try expression(item, path: "\(path)/\(keyword)/\(i)")) }
            return .choice(alternatives)
        }
        guard let types else { return .rule("json-value") }
        var alternatives: [GrammarExpression] = []
        for t in types { alternatives.append(try typed(t, schema, path: path)) }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    private func types(_ schema: JSONValue, path: String) throws(GrammarError) -> [String]? {
        let names: [String]
        switch schema["type"] {
        case nil: return nil
        case let .string(t)?: names = [t]
        case let .array(items)?:
            names = items.compactMap { if case let .string(t) = $0 { t } else { nil } }
            guard names.count == items.count, !names.isEmpty else { throw GrammarError("JSON Schema at \(path): bad 'type'") }
        default: throw GrammarError("JSON Schema at \(path): bad 'type'")
        }
        for name in names where Self.typeKeywords[name] == nil {
            throw GrammarError("JSON Schema at \(path): unknown type '\(name)'")
        }
        return names
    }

    private mutating func reference(_ target: String) throws(GrammarError) -> GrammarExpression {
        if let rule = refRules[target] { return .rule(rule) }
        var node = root
        if target != "#" {
            guard target.hasPrefix("#/") else {
                throw GrammarError("JSON Schema: only local references ('#/$defs/…') are supported, got '$ref': '\(target)'")
            }
            for part in target.dropFirst(2).split(separator: "/") {
                let key = String(part).replacing("~1", with: "/").replacing("~0", with: "~")
                guard let next = node[key] else { throw GrammarError("JSON Schema: '$ref' target '\(target)' does not exist") }
                node = next
            }
        }
        let name = "ref-\(refRules.count)"
        refRules[target] = name
        rules[name] = try expression(node, path: target)
        return .rule(name)
    }

    private func integer(_ schema: JSONValue, _ key: String, path: String) throws(GrammarError) -> Int? {
        guard let value = schema[key] else { return nil }
        guard let n = value.int, n >= 0 else {
            throw GrammarError("JSON Schema at \(path): '\(key)' must be a non-negative integer")
        }
        guard n <= RegexParser.maxCount else { throw GrammarError("JSON Schema at \(path): '\(key)' above \(RegexParser.maxCount) is not supported") }
        return n
    }

    private mutating func typed(_ type: String, _ schema: JSONValue, path: String) throws(GrammarError) -> GrammarExpression {
        switch type {
        case "null": return .literal("null")
        case "boolean": return .choice([.literal("true"), .literal("false")])
        case "integer": return .rule("json-integer")
        case "number": return .rule("json-number")
        case "string": return try string(schema, path: path)
        case "array": return try array(schema, path: path)
        default: return try object(schema, path: path)
        }
    }

    private mutating func string(_ schema: JSONValue, path: String) throws(GrammarError) -> GrammarExpression {
        let quote = GrammarExpression.literal("\"")
        var pattern = schema["pattern"]
        if pattern == nil, let format = schema["format"] { pattern = try Self.formatPattern(format, path: path) }
        if let pattern {
            guard case let .string(regex) = pattern else { throw GrammarError("JSON Schema at \(path): 'pattern' must be a string") }
            return .sequence([quote, try RegexParser.parse(regex, context: Self.stringContext), quote])
        }
        let lo = try integer(schema, "minLength", path: path) ?? 0
        let hi = try integer(schema, "maxLength", path: path)
        if let hi, hi < lo { throw GrammarError("JSON Schema at \(path): maxLength is below minLength") }
        return .sequence([quote, .repetition(.rule("json-char"), min: lo, max: hi), quote])
    }

    static let formats: [String: String] = [
        "date": #"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"#,
        "time": #"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"#,
        "date-time": #"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"#,
        "duration": #"P([0-9]{1,6}D)?(T([0-9]{1,6}H)?([0-9]{1,6}M)?([0-9]{1,6}S)?)?"#,
        "email": #"[a-zA-Z0-9._%+-]{1,64}@[a-zA-Z0-9-]{1,63}(\.[a-zA-Z0-9-]{1,63}){0,4}\.[a-zA-Z]{2,24}"#,
        "uuid": #"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#,
        "uri": #"[a-zA-Z][a-zA-Z0-9+.-]{0,15}://[a-zA-Z0-9._~%!$&'()*+,;=:@/?-]{1,200}"#,
        "ipv4": #"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"#,
        "ipv6": #"([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}"#,
        "hostname": #"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?){0,6}"#,
    ]

    private static func formatPattern(_ format: JSONValue, path: String) throws(GrammarError) -> JSONValue {
        guard case let .string(name) = format, let regex = formats[name] else {
            throw GrammarError("unsupported JSON Schema string format '\(format.serialized)' at \(path) (supported: \(formats.keys.sorted().joined(separator: ", ")))")
        }
        return .string(regex)
    }

    private mutating func array(_ schema: JSONValue, path: String) throws(GrammarError) -> GrammarExpression {
        var prefix: [GrammarExpression] = []
        if case let .array(items)? = schema["prefixItems"] {
            for (i, item) in items.enumerated() { prefix.append(try expression(item, path: "\(path)/prefixItems/\(i)")) }
        }
        var item: GrammarExpression? = .rule("json-value")
        if let items = schema["items"] {
            if case .bool(false) = items { item = nil } else { item = try expression(items, path: path + "/items") }
        }
        let lo = try integer(schema, "minItems", path: path) ?? 0
        let hi = try integer(schema, "maxItems", path: path)
        if let hi, hi < lo { throw GrammarError("JSON Schema at \(path): maxItems is below minItems") }
        // Elements in order: the prefix items (all present, unless maxItems cuts them), then repeated items.
        let elements: [GrammarExpression] = Array(prefix.prefix(hi ?? prefix.count))
        guard lo <= elements.count || item != nil else {
            throw GrammarError("JSON Schema at \(path): minItems exceeds the items the schema allows")
        }
        var tail: GrammarExpression = .empty
        if let item {
            let more = max(0, lo - elements.count)
            let extra = hi.map { max(0, $0 - elements.count - more) }
            let comma = GrammarExpression.sequence([.literal(","), item])
            if elements.isEmpty {
                // Without prefix items the first element carries no comma.
                let rest = GrammarExpression.repetition(comma, min: max(0, more - 1), max: extra.map { $0 + max(0, more - 1) })
                let list = GrammarExpression.sequence([item, rest])
                tail = more > 0 ? list : (extra == 0 ? .empty : .optional(.sequence([item, .repetition(comma, min: 0, max: extra.map { $0 - 1 })])))
                return .sequence([.literal("["), tail, .literal("]")])
            }
            tail = .repetition(comma, min: more, max: extra.map { $0 + more })
        }
        var body: [GrammarExpression] = []
        for (i, e) in elements.enumerated() {
            if i > 0 { body.append(.literal(",")) }
            body.append(e)
        }
        return .sequence([.literal("[")] + body + [tail, .literal("]")])
    }

    private mutating func object(_ schema: JSONValue, path: String) throws(GrammarError) -> GrammarExpression {
        var properties: [(key: String, value: JSONValue)] = []
        if let p = schema["properties"] {
            guard case let .object(members) = p else { throw GrammarError("JSON Schema at \(path): 'properties' must be an object") }
            properties = members
        }
        var required: Set<String> = []
        if let r = schema["required"] {
            guard case let .array(items) = r else { throw GrammarError("JSON Schema at \(path): 'required' must be an array") }
            for item in items {
                guard case let .string(name) = item else { throw GrammarError("JSON Schema at \(path): 'required' must list strings") }
                guard properties.contains(where: { $0.key == name }) else {
                    throw GrammarError("JSON Schema at \(path): required property '\(name)' is not among 'properties'")
                }
                required.insert(name)
            }
        }
        if properties.isEmpty {
            // No declared properties: any members whose values follow additionalProperties.
            let value: GrammarExpression
            switch schema["additionalProperties"] {
            case nil, .bool(true)?: return .rule("json-object")
            case .bool(false)?: return .literal("{}")
            case let extra?: value = try expression(extra, path: path + "/additionalProperties")
            }
            let member = GrammarExpression.sequence([.rule("json-string"), .literal(":"), value])
            return .sequence([.literal("{"), .optional(.sequence([member, .star(.sequence([.literal(","), member]))])), .literal("}")])
        }
        var members: [GrammarExpression] = []
        for (key, value) in properties {
            members.append(.sequence([.literal(JSONValue.quote(key) + ":"), try expression(value, path: "\(path)/properties/\(key)")]))
        }
        // rest(i, first): the members from i on, with a comma before each unless nothing came before.
        // Rules named per (i, first) keep the grammar linear in the number of optional properties.
        let base = "obj-\(rules.count)"
        func name(_ i: Int, _ first: Bool) -> String { "\(base)-\(i)-\(first ? "a" : "b")" }
        for i in stride(from: properties.count, through: 0, by: -1) {
            for first in [true, false] {
                guard i < properties.count else { rules[name(i, first)] = .empty; continue }
                let present = GrammarExpression.sequence((first ? [] : [.literal(",")]) + [members[i], .rule(name(i + 1, false))])
                rules[name(i, first)] = required.contains(properties[i].key) ? present : .choice([present, .rule(name(i + 1, first))])
            }
        }
        return .sequence([.literal("{"), .rule(name(0, true)), .literal("}")])
    }
}
