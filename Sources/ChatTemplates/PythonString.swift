/// Python `str` semantics the templates rely on: whitespace, stripping, splitting, case mapping.
/// Indices count Unicode scalars, as Python counts code points.
enum PythonString {
    /// `str.isspace()` for one code point: Unicode White_Space plus the ASCII separators U+001C–U+001F.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }

    static func strip(_ text: String, chars: String? = nil) -> String {
        rstrip(lstrip(text, chars: chars), chars: chars)
    }

    static func lstrip(_ text: String, chars: String? = nil) -> String {
        let remove = matcher(chars)
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !remove($0) }) else { return "" }
        return String(scalars[first...])
    }

    static func rstrip(_ text: String, chars: String? = nil) -> String {
        let remove = matcher(chars)
        let scalars = text.unicodeScalars
        guard let last = scalars.lastIndex(where: { !remove($0) }) else { return "" }
        return String(scalars[...last])
    }

    private static func matcher(_ chars: String?) -> (Unicode.Scalar) -> Bool {
        guard let chars else { return isWhitespace }
        let set = Set(chars.unicodeScalars)
        return { set.contains($0) }
    }

    /// `str.split(sep, maxsplit)`; with no separator, splits on whitespace runs and drops empty parts.
    static func split(_ text: String, separator: String?, maxSplit: Int = -1) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var parts: [String] = []
        guard let separator else {
            var index = 0
            while index < scalars.count {
                while index < scalars.count, isWhitespace(scalars[index]) { index += 1 }
                guard index < scalars.count else { break }
                if maxSplit >= 0, parts.count == maxSplit {
                    parts.append(rstrip(String(String.UnicodeScalarView(scalars[index...]))))
                    return parts
                }
                let start = index
                while index < scalars.count, !isWhitespace(scalars[index]) { index += 1 }
                parts.append(String(String.UnicodeScalarView(scalars[start..<index])))
            }
            return parts
        }
        let sep = Array(separator.unicodeScalars)
        var start = 0
        var index = 0
        while index + sep.count <= scalars.count {
            if maxSplit >= 0, parts.count == maxSplit { break }
            if Array(scalars[index..<index + sep.count]) == sep {
                parts.append(String(String.UnicodeScalarView(scalars[start..<index])))
                index += sep.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(String(String.UnicodeScalarView(scalars[start...])))
        return parts
    }

    /// `str.replace(old, new, count)`, including Python's behaviour for an empty `old`.
    static func replace(_ text: String, _ old: String, _ new: String, count: Int = -1) -> String {
        let scalars = Array(text.unicodeScalars)
        let target = Array(old.unicodeScalars)
        var result = String.UnicodeScalarView()
        var replaced = 0
        if target.isEmpty {
            for scalar in scalars {
                if count < 0 || replaced < count { result.append(contentsOf: new.unicodeScalars); replaced += 1 }
                result.append(scalar)
            }
            if count < 0 || replaced < count { result.append(contentsOf: new.unicodeScalars) }
            return String(result)
        }
        var index = 0
        while index < scalars.count {
            if (count < 0 || replaced < count), index + target.count <= scalars.count,
               Array(scalars[index..<index + target.count]) == target {
                result.append(contentsOf: new.unicodeScalars)
                index += target.count
                replaced += 1
            } else {
                result.append(scalars[index])
                index += 1
            }
        }
        return String(result)
    }

    /// Number of non-overlapping occurrences, as `str.count`.
    static func count(_ text: String, _ needle: String) -> Int {
        let target = Array(needle.unicodeScalars)
        let scalars = Array(text.unicodeScalars)
        guard !target.isEmpty else { return scalars.count + 1 }
        var found = 0
        var index = 0
        while index + target.count <= scalars.count {
            if Array(scalars[index..<index + target.count]) == target { found += 1; index += target.count } else { index += 1 }
        }
        return found
    }

    /// Index of the first occurrence in code points, or -1, as `str.find`.
    static func find(_ text: String, _ needle: String) -> Int {
        let target = Array(needle.unicodeScalars)
        let scalars = Array(text.unicodeScalars)
        guard target.count <= scalars.count else { return -1 }
        for index in 0...(scalars.count - target.count) where Array(scalars[index..<index + target.count]) == target {
            return index
        }
        return -1
    }

    /// `str.capitalize()`: first character title-cased, the rest lower-cased.
    static func capitalize(_ text: String) -> String {
        guard let first = text.unicodeScalars.first else { return "" }
        return first.properties.titlecaseMapping + String(text.unicodeScalars.dropFirst()).lowercased()
    }

    /// `str.title()`: a cased character following an uncased one starts a word.
    static func title(_ text: String) -> String {
        var result = ""
        var previousCased = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isCased {
                result += previousCased ? scalar.properties.lowercaseMapping : scalar.properties.titlecaseMapping
                previousCased = true
            } else {
                result.unicodeScalars.append(scalar)
                previousCased = false
            }
        }
        return result
    }

    /// Python `repr()` of a string: single quotes unless the text has `'` and no `"`.
    static func repr(_ text: String) -> String {
        let quote: Unicode.Scalar = text.contains("'") && !text.contains("\"") ? "\"" : "'"
        var result = String.UnicodeScalarView([quote])
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": result.append(contentsOf: "\\n".unicodeScalars)
            case "\r": result.append(contentsOf: "\\r".unicodeScalars)
            case "\t": result.append(contentsOf: "\\t".unicodeScalars)
            case quote: result.append("\\"); result.append(quote)
            default:
                if isPrintable(scalar) {
                    result.append(scalar)
                } else {
                    let hex = String(scalar.value, radix: 16)
                    let width = scalar.value < 0x100 ? 2 : scalar.value < 0x10000 ? 4 : 8
                    let prefix = width == 2 ? "\\x" : width == 4 ? "\\u" : "\\U"
                    result.append(contentsOf: (prefix + String(repeating: "0", count: width - hex.count) + hex).unicodeScalars)
                }
            }
        }
        result.append(quote)
        return String(result)
    }

    /// Python's `str.isprintable()` for one code point: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (space excepted).
    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }
}
