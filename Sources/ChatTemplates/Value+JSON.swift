/// `json.dumps` as transformers' `tojson` filter calls it.
struct JSONDumpOptions {
    var ensureASCII = false
    /// Spaces per level; `nil` keeps everything on one line.
    var indent: String?
    var itemSeparator: String?
    var keySeparator = ": "
    var sortKeys = false
}

extension Value {
    func jsonDump(_ options: JSONDumpOptions) throws -> String {
        var output = ""
        try writeJSON(into: &output, options: options, depth: 0)
        return output
    }

    private func writeJSON(into output: inout String, options: JSONDumpOptions, depth: Int) throws {
        guard depth < 512 else { throw EvalFailure("value nested too deeply for tojson") }
        switch self {
        case .none: output += "null"
        case let .bool(flag): output += flag ? "true" : "false"
        case let .int(number): output += String(number)
        case let .double(number):
            if number.isNaN {
                output += "NaN"
            } else if number.isInfinite {
                output += number < 0 ? "-Infinity" : "Infinity"
            } else {
                output += PythonFloat.repr(number)
            }
        case let .string(text): output += Self.jsonQuote(text, ensureASCII: options.ensureASCII)
        case let .array(items):
            try writeContainer(into: &output, open: "[", close: "]", count: items.count, options: options, depth: depth) { output, index in
                try items[index].writeJSON(into: &output, options: options, depth: depth + 1)
            }
        case let .object(object):
            var pairs = object.pairs
            if options.sortKeys { pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } }
            try writeContainer(into: &output, open: "{", close: "}", count: pairs.count, options: options, depth: depth) { output, index in
                output += Self.jsonQuote(pairs[index].0, ensureASCII: options.ensureASCII) + options.keySeparator
                try pairs[index].1.writeJSON(into: &output, options: options, depth: depth + 1)
            }
        case .undefined, .namespace, .callable:
            throw EvalFailure("Object of type \(typeName) is not JSON serializable")
        }
    }

    private func writeContainer(
        into output: inout String, open: String, close: String, count: Int, options: JSONDumpOptions, depth: Int,
        element: (inout String, Int) throws -> Void
    ) throws {
        guard count > 0 else {
            output += open + close
            return
        }
        output += open
        // json.dumps uses ", " on one line and "," when indenting, unless separators are given.
        let separator = options.itemSeparator ?? (options.indent == nil ? ", " : ",")
        let newline = options.indent.map { "\n" + String(repeating: $0, count: depth + 1) }
        for index in 0..<count {
            if index > 0 { output += separator }
            if let newline { output += newline }
            try element(&output, index)
        }
        if let indent = options.indent { output += "\n" + String(repeating: indent, count: depth) }
        output += close
    }

    static func jsonQuote(_ text: String, ensureASCII: Bool) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            default:
                if scalar.value < 0x20 || (ensureASCII && scalar.value > 0x7E) {
                    if scalar.value > 0xFFFF {
                        let offset = scalar.value - 0x10000
                        result += hex4(0xD800 + (offset >> 10)) + hex4(0xDC00 + (offset & 0x3FF))
                    } else {
                        result += hex4(scalar.value)
                    }
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
    }
}
