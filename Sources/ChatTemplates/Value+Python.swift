/// Python semantics of values: truthiness, `str()`, `repr()`, `==`, ordering, `len()` and iteration.
extension Value {
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case let .bool(flag): return flag
        case let .int(number): return number != 0
        case let .double(number): return number != 0
        case let .string(text): return !text.isEmpty
        case let .array(items): return !items.isEmpty
        case let .object(object): return object.count > 0
        case .namespace, .callable: return true
        }
    }

    /// Python `str()`; undefined renders as the empty string, as Jinja's default `Undefined` does.
    var pythonString: String {
        switch self {
        case .undefined: return ""
        case let .string(text): return text
        default: return pythonRepr
        }
    }

    var pythonRepr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case let .bool(flag): return flag ? "True" : "False"
        case let .int(number): return String(number)
        case let .double(number): return PythonFloat.repr(number)
        case let .string(text): return PythonString.repr(text)
        case let .array(items): return "[" + items.map(\.pythonRepr).joined(separator: ", ") + "]"
        case let .object(object):
            return "{" + object.pairs.map { PythonString.repr($0.0) + ": " + $0.1.pythonRepr }.joined(separator: ", ") + "}"
        case let .namespace(namespace):
            return "<Namespace " + Value.object(namespace.attributes).pythonRepr + ">"
        case let .callable(callable): return "<function \(callable.name)>"
        }
    }

    /// The numeric value when this is a bool, int or float (Python treats `bool` as an `int`).
    var number: Double? {
        switch self {
        case let .bool(flag): return flag ? 1 : 0
        case let .int(number): return Double(number)
        case let .double(number): return number
        default: return nil
        }
    }

    /// The integer value of a bool or int.
    var integer: Int? {
        switch self {
        case let .bool(flag): return flag ? 1 : 0
        case let .int(number): return number
        default: return nil
        }
    }

    /// Python `==`.
    func pythonEquals(_ other: Value) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case let (.object(a), .object(b)):
            return a.count == b.count && a.pairs.allSatisfy { key, value in b[key].map(value.pythonEquals) ?? false }
        case let (.namespace(a), .namespace(b)): return a === b
        default:
            if let a = integer, let b = other.integer { return a == b }
            if let a = number, let b = other.number { return a == b }
            return false
        }
    }

    /// Python ordering for `<`, `>`, `sort`: numbers, strings and lists compare; anything else is a TypeError.
    func pythonCompare(_ other: Value, op: String) throws -> Int {
        switch (self, other) {
        case let (.string(a), .string(b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) ? -1 : (a == b ? 0 : 1)
        case let (.array(a), .array(b)):
            for (x, y) in zip(a, b) where !x.pythonEquals(y) { return try x.pythonCompare(y, op: op) }
            return a.count < b.count ? -1 : (a.count == b.count ? 0 : 1)
        default:
            if let a = integer, let b = other.integer { return a < b ? -1 : (a == b ? 0 : 1) }
            if let a = number, let b = other.number {
                return a < b ? -1 : (a == b ? 0 : 1)
            }
            if isUndefined || other.isUndefined { throw EvalFailure(undefinedMessage(self, other)) }
            throw EvalFailure("'\(op)' not supported between instances of '\(typeName)' and '\(other.typeName)'")
        }
    }

    /// Python `len()`; undefined has length 0 like Jinja's `Undefined`.
    func pythonLength() throws -> Int {
        switch self {
        case .undefined: return 0
        case let .string(text): return text.unicodeScalars.count
        case let .array(items): return items.count
        case let .object(object): return object.count
        default: throw EvalFailure("object of type '\(typeName)' has no len()")
        }
    }

    /// The items a `for` loop visits: list items, dict keys, string characters; undefined is empty.
    func iterate() throws -> [Value] {
        switch self {
        case .undefined: return []
        case let .array(items): return items
        case let .object(object): return object.keys.map(Value.string)
        case let .string(text): return text.unicodeScalars.map { .string(String($0)) }
        default: throw EvalFailure("'\(typeName)' object is not iterable")
        }
    }

    /// Python `in`: substring, list membership or dict key.
    func contains(_ element: Value) throws -> Bool {
        switch self {
        case .undefined: return false
        case let .string(text):
            guard case let .string(needle) = element else {
                throw EvalFailure("'in <string>' requires string as left operand, not \(element.typeName)")
            }
            return needle.isEmpty || PythonString.find(text, needle) >= 0
        case let .array(items): return items.contains { $0.pythonEquals(element) }
        case let .object(object):
            guard case let .string(key) = element else { return false }
            return object[key] != nil
        default: throw EvalFailure("argument of type '\(typeName)' is not iterable")
        }
    }
}

/// The message Jinja gives when an undefined value is used where a real one is required.
func undefinedMessage(_ values: Value...) -> String {
    for value in values {
        if case let .undefined(name) = value { return "'\(name)' is undefined" }
    }
    return "value is undefined"
}

/// Python's `repr(float)`: shortest round-trip digits, positional notation for exponents in [-4, 16).
enum PythonFloat {
    static func repr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description already yields the shortest round-trip digits; only the layout differs.
        let (negative, digits, exponent) = decompose(value.description)
        // `exponent` is the position of the decimal point relative to the first digit (value = 0.d1d2… × 10^exponent).
        var text: String
        if exponent > -4, exponent <= 16 {
            if exponent <= 0 {
                text = "0." + String(repeating: "0", count: -exponent) + digits
            } else if exponent >= digits.count {
                text = digits + String(repeating: "0", count: exponent - digits.count) + ".0"
            } else {
                let split = digits.index(digits.startIndex, offsetBy: exponent)
                text = digits[..<split] + "." + digits[split...]
            }
        } else {
            let mantissa = digits.count == 1 ? digits : String(digits.prefix(1)) + "." + digits.dropFirst()
            let power = exponent - 1
            let magnitude = String(abs(power))
            text = mantissa + "e" + (power < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" + magnitude : magnitude)
        }
        return (negative ? "-" : "") + text
    }

    /// Splits Swift's description ("-1.25e-07", "123.5") into sign, significant digits and point position.
    private static func decompose(_ description: String) -> (Bool, String, Int) {
        var text = Substring(description)
        let negative = text.hasPrefix("-")
        if negative { text = text.dropFirst() }
        var exponent = 0
        if let marker = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: marker)...]) ?? 0
            text = text[..<marker]
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let integerPart = String(parts[0])
        let fractionPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = integerPart + fractionPart
        var point = integerPart.count + exponent
        while digits.hasPrefix("0"), digits.count > 1 {
            digits.removeFirst()
            point -= 1
        }
        while digits.hasSuffix("0"), digits.count > 1 { digits.removeLast() }
        return (negative, digits, point)
    }
}
