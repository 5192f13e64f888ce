/// The Jinja filters chat templates use, with transformers' `tojson`.
enum Filters {
    static let names: Set<String> = [
        "trim", "length", "count", "tojson", "upper", "lower", "title", "capitalize", "replace", "join",
        "first", "last", "default", "d", "list", "string", "items", "selectattr", "rejectattr", "select",
        "reject", "map", "safe", "int", "float", "abs", "reverse", "indent", "unique", "sort", "dictsort",
        "sum", "min", "max", "wordcount",
    ]

    static func apply(_ name: String, to value: Value, _ arguments: CallArguments, renderer: Renderer) throws -> Value {
        switch name {
        case "trim":
            try arguments.check(name, parameters: ["chars"])
            let chars = arguments.value(0, "chars").flatMap { $0.pythonEquals(.none) ? nil : $0.pythonString }
            return .string(PythonString.strip(value.pythonString, chars: chars))
        case "length", "count":
            try arguments.check(name, parameters: [])
            return .int(try value.pythonLength())
        case "tojson":
            return .string(try value.jsonDump(try jsonOptions(arguments)))
        case "upper":
            return .string(value.pythonString.uppercased())
        case "lower":
            return .string(value.pythonString.lowercased())
        case "capitalize":
            return .string(PythonString.capitalize(value.pythonString))
        case "title":
            return .string(jinjaTitle(value.pythonString))
        case "replace":
            try arguments.check(name, parameters: ["old", "new", "count"])
            guard let old = arguments.value(0, "old"), let new = arguments.value(1, "new") else {
                throw EvalFailure("replace filter needs 'old' and 'new'")
            }
            let count = arguments.value(2, "count").flatMap { $0.integer } ?? -1
            return .string(PythonString.replace(value.pythonString, old.pythonString, new.pythonString, count: count))
        case "join":
            try arguments.check(name, parameters: ["d", "attribute"])
            let separator = arguments.value(0, "d")?.pythonString ?? ""
            var items = try value.iterate()
            if let attribute = arguments.value(1, "attribute") { items = try items.map { try lookup($0, path: attribute) } }
            return .string(items.map(\.pythonString).joined(separator: separator))
        case "first":
            return try value.iterate().first ?? .undefined("first item of an empty sequence")
        case "last":
            return try value.iterate().last ?? .undefined("last item of an empty sequence")
        case "default", "d":
            try arguments.check(name, parameters: ["default_value", "boolean"])
            let useDefault = (arguments.value(1, "boolean")?.isTruthy ?? false) ? !value.isTruthy : value.isUndefined
            return useDefault ? (arguments.value(0, "default_value") ?? .string("")) : value
        case "list":
            return .array(try value.iterate())
        case "string", "safe":
            return .string(value.pythonString)
        case "items":
            switch value {
            case .undefined: return .array([])
            case let .object(object): return .array(object.pairs.map { .array([.string($0.0), $0.1]) })
            default: throw EvalFailure("can only get item pairs from a mapping, not \(value.typeName)")
            }
        case "selectattr", "rejectattr":
            guard let attribute = arguments.positional.first ?? arguments.value(0, "attribute") else {
                throw EvalFailure("\(name) needs an attribute name")
            }
            return .array(try value.iterate().filter { item in
                try passes(try lookup(item, path: attribute), Array(arguments.positional.dropFirst())) == (name == "selectattr")
            })
        case "select", "reject":
            return .array(try value.iterate().filter { item in
                try passes(item, arguments.positional) == (name == "select")
            })
        case "map":
            return .array(try map(value.iterate(), arguments, renderer: renderer))
        case "int":
            try arguments.check(name, parameters: ["default", "base"])
            return toInt(value) ?? arguments.value(0, "default") ?? .int(0)
        case "float":
            try arguments.check(name, parameters: ["default"])
            return toFloat(value) ?? arguments.value(0, "default") ?? .double(0)
        case "abs":
            if let number = value.integer {
                guard number != .min else { throw EvalFailure("integer overflow") }
                return .int(abs(number))
            }
            if case let .double(number) = value { return .double(abs(number)) }
            throw EvalFailure("bad operand type for abs(): '\(value.typeName)'")
        case "reverse":
            if case let .string(text) = value { return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed()))) }
            return .array(try value.iterate().reversed())
        case "indent":
            try arguments.check(name, parameters: ["width", "first", "blank"])
            return .string(indent(value.pythonString, arguments))
        case "unique":
            try arguments.check(name, parameters: ["case_sensitive", "attribute"])
            return .array(try unique(value.iterate(), arguments))
        case "sort":
            try arguments.check(name, parameters: ["reverse", "case_sensitive", "attribute"])
            return .array(try sort(value.iterate(), reverse: arguments.value(0, "reverse")?.isTruthy ?? false,
                                   caseSensitive: arguments.value(1, "case_sensitive")?.isTruthy ?? false,
                                   attribute: arguments.value(2, "attribute")))
        case "dictsort":
            try arguments.check(name, parameters: ["case_sensitive", "by", "reverse"])
            guard case let .object(object) = value else { throw EvalFailure("dictsort expects a mapping") }
            let byValue = arguments.value(1, "by")?.pythonString == "value"
            let pairs = object.pairs.map { Value.array([.string($0.0), $0.1]) }
            return .array(try sort(pairs, reverse: arguments.value(2, "reverse")?.isTruthy ?? false,
                                   caseSensitive: arguments.value(0, "case_sensitive")?.isTruthy ?? false,
                                   attribute: .int(byValue ? 1 : 0)))
        case "sum":
            try arguments.check(name, parameters: ["attribute", "start"])
            var total = arguments.value(1, "start") ?? .int(0)
            for item in try value.iterate() {
                let term = try arguments.value(0, "attribute").map { try lookup(item, path: $0) } ?? item
                total = try Operators.binary(.add, total, term)
            }
            return total
        case "min", "max":
            try arguments.check(name, parameters: ["case_sensitive", "attribute"])
            let sorted = try sort(value.iterate(), reverse: false,
                                  caseSensitive: arguments.value(0, "case_sensitive")?.isTruthy ?? false,
                                  attribute: arguments.value(1, "attribute"))
            return (name == "min" ? sorted.first : sorted.last) ?? .undefined("\(name) of an empty sequence")
        case "wordcount":
            return .int(PythonString.split(value.pythonString, separator: nil).count)
        default:
            throw EvalFailure("no filter named '\(name)'")
        }
    }

    /// Jinja's `title` filter (not Python's `str.title`): capitalises pieces split on spaces, `-`, and opening brackets.
    private static func jinjaTitle(_ text: String) -> String {
        var result = ""
        var atWordStart = true
        for scalar in text.unicodeScalars {
            if PythonString.isWhitespace(scalar) || "-({[<".unicodeScalars.contains(scalar) {
                result.unicodeScalars.append(scalar)
                atWordStart = true
            } else {
                result += atWordStart ? String(scalar).uppercased() : String(scalar).lowercased()
                atWordStart = false
            }
        }
        return result
    }

    private static func jsonOptions(_ arguments: CallArguments) throws -> JSONDumpOptions {
        try arguments.check("tojson", parameters: ["ensure_ascii", "indent", "separators", "sort_keys"])
        var options = JSONDumpOptions()
        options.ensureASCII = arguments.value(0, "ensure_ascii")?.isTruthy ?? false
        switch arguments.value(1, "indent") {
        case nil, .none?: break
        case let .string(text)?: options.indent = text
        case let value?:
            guard let width = value.integer else { throw EvalFailure("indent must be an int or a string") }
            options.indent = String(repeating: " ", count: max(0, width))
        }
        if let separators = arguments.value(2, "separators"), !separators.pythonEquals(.none) {
            guard case let .array(pair) = separators, pair.count == 2,
                  case let .string(item) = pair[0], case let .string(key) = pair[1] else {
                throw EvalFailure("separators must be a pair of strings")
            }
            options.itemSeparator = item
            options.keySeparator = key
        }
        options.sortKeys = arguments.value(3, "sort_keys")?.isTruthy ?? false
        return options
    }

    /// Follows a dotted attribute path (`"function.name"`, or an integer index) as Jinja's `attrgetter` does.
    static func lookup(_ item: Value, path: Value) throws -> Value {
        if let index = path.integer { return try Renderer.item(of: item, .int(index)) }
        var current = item
        for part in path.pythonString.split(separator: ".", omittingEmptySubsequences: false) {
            let key: Value = Int(part).map(Value.int) ?? .string(String(part))
            current = try Renderer.item(of: current, key)
        }
        return current
    }

    /// Applies the test named by `arguments[0]` (truthiness when absent) with the remaining arguments.
    private static func passes(_ value: Value, _ arguments: [Value]) throws -> Bool {
        guard let testName = arguments.first else { return value.isTruthy }
        guard case let .string(name) = testName, TemplateTests.names.contains(name) else {
            throw EvalFailure("no test named \(testName.pythonRepr)")
        }
        return try TemplateTests.apply(name, to: value, CallArguments(positional: Array(arguments.dropFirst())))
    }

    private static func map(_ items: [Value], _ arguments: CallArguments, renderer: Renderer) throws -> [Value] {
        if let attribute = arguments.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = arguments.keyword.first(where: { $0.0 == "default" })?.1
            return try items.map { item in
                let found = try lookup(item, path: attribute)
                return found.isUndefined ? (fallback ?? found) : found
            }
        }
        guard case let .string(filter)? = arguments.positional.first else {
            throw EvalFailure("map requires a filter name or attribute=")
        }
        guard names.contains(filter) else { throw EvalFailure("no filter named '\(filter)'") }
        let rest = CallArguments(positional: Array(arguments.positional.dropFirst()), keyword: arguments.keyword)
        return try items.map { try apply(filter, to: $0, rest, renderer: renderer) }
    }

    private static func toInt(_ value: Value) -> Value? {
        switch value {
        case let .int(number): return .int(number)
        case let .bool(flag): return .int(flag ? 1 : 0)
        case let .double(number):
            guard number.isFinite, abs(number) < 9.2e18 else { return nil }
            return .int(Int(number))
        case let .string(text):
            let trimmed = PythonString.strip(text).replacingOccurrences(of: "_", with: "")
            if let number = Int(trimmed) { return .int(number) }
            if let number = Double(trimmed), number.isFinite, abs(number) < 9.2e18 { return .int(Int(number)) }
            return nil
        default: return nil
        }
    }

    private static func toFloat(_ value: Value) -> Value? {
        if let number = value.number { return .double(number) }
        if case let .string(text) = value, let number = Double(PythonString.strip(text)) { return .double(number) }
        return nil
    }

    private static func indent(_ text: String, _ arguments: CallArguments) -> String {
        let width = arguments.value(0, "width")
        let prefix: String
        if case let .string(custom)? = width { prefix = custom } else { prefix = String(repeating: " ", count: width?.integer ?? 4) }
        let first = arguments.value(1, "first")?.isTruthy ?? false
        let blank = arguments.value(2, "blank")?.isTruthy ?? false
        var lines = text.components(separatedBy: "\n")
        for index in lines.indices where index > 0 || first {
            if blank || !PythonString.strip(lines[index]).isEmpty { lines[index] = prefix + lines[index] }
        }
        return lines.joined(separator: "\n")
    }

    private static func sortKey(_ value: Value, caseSensitive: Bool, attribute: Value?) throws -> Value {
        let key = try attribute.map { try lookup(value, path: $0) } ?? value
        if !caseSensitive, case let .string(text) = key { return .string(text.lowercased()) }
        return key
    }

    private static func sort(_ items: [Value], reverse: Bool, caseSensitive: Bool, attribute: Value?) throws -> [Value] {
        let keyed = try items.map { (try sortKey($0, caseSensitive: caseSensitive, attribute: attribute), $0) }
        var failure: Error?
        // Stable merge of Python's `sorted`: equal keys keep their order, also when reversed.
        let sorted = keyed.enumerated().sorted { lhs, rhs in
            do {
                let order = try lhs.element.0.pythonCompare(rhs.element.0, op: "<")
                if order == 0 { return lhs.offset < rhs.offset }
                return reverse ? order > 0 : order < 0
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        return sorted.map(\.element.1)
    }

    private static func unique(_ items: [Value], _ arguments: CallArguments) throws -> [Value] {
        let caseSensitive = arguments.value(0, "case_sensitive")?.isTruthy ?? false
        var seen: [Value] = []
        var result: [Value] = []
        for item in items {
            let key = try sortKey(item, caseSensitive: caseSensitive, attribute: arguments.value(1, "attribute"))
            if !seen.contains(where: { $0.pythonEquals(key) }) {
                seen.append(key)
                result.append(item)
            }
        }
        return result
    }
}
