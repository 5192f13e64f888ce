import CoreUtilities

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
        case let .string(text): output += JSONValue.quote(text, python: true, ensureASCII: options.ensureASCII)
        case let .array(items):
            try writeContainer(into: &output, open: "[", close: "]", count: items.count, options: options, depth: depth) { output, index in
                try items[index].writeJSON(into: &output, options: options, depth: depth + 1)
            }
        case let .object(object):
            var pairs = object.pairs
            if options.sortKeys { pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } }
            try writeContainer(into: &output, open: "{", close: "}", count: pairs.count, options: options, depth: depth) { output, index in
                output += JSONValue.quote(pairs[index].0, python: true, ensureASCII: options.ensureASCII) + options.keySeparator
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
}
