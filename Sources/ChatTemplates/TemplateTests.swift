/// Jinja tests, the right-hand side of `value is name`.
enum TemplateTests {
    static let names: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false",
        "mapping", "iterable", "sequence", "callable", "odd", "even", "divisibleby", "eq", "equalto", "==",
        "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "lower", "upper",
        "sameas",
    ]

    static func apply(_ name: String, to value: Value, _ arguments: CallArguments) throws -> Bool {
        func operand() throws -> Value {
            guard let first = arguments.positional.first ?? arguments.keyword.first?.1 else {
                throw EvalFailure("test '\(name)' needs an argument")
            }
            return first
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true } else { return false }
        case "string": if case .string = value { return true } else { return false }
        case "number": return value.number != nil
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "mapping": if case .object = value { return true } else { return false }
        case "iterable":
            switch value {
            case .undefined, .string, .array, .object: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .undefined, .string, .array, .object: return true
            default: return false
            }
        case "callable": if case .callable = value { return true } else { return false }
        case "odd", "even":
            guard let number = value.integer else { throw EvalFailure("test '\(name)' needs an integer, not \(value.typeName)") }
            return (number % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard let number = value.integer, let divisor = try operand().integer else {
                throw EvalFailure("test 'divisibleby' needs integers")
            }
            guard divisor != 0 else { throw EvalFailure("integer division or modulo by zero") }
            return number % divisor == 0
        case "eq", "equalto", "==": return value.pythonEquals(try operand())
        case "ne", "!=": return !value.pythonEquals(try operand())
        case "lt", "lessthan", "<": return try value.pythonCompare(try operand(), op: "<") < 0
        case "le", "<=": return try value.pythonCompare(try operand(), op: "<=") <= 0
        case "gt", "greaterthan", ">": return try value.pythonCompare(try operand(), op: ">") > 0
        case "ge", ">=": return try value.pythonCompare(try operand(), op: ">=") >= 0
        case "in": return try operand().contains(value)
        case "lower", "upper":
            let text = value.pythonString
            let cased = text.unicodeScalars.contains { $0.properties.isCased }
            return cased && (name == "lower" ? text == text.lowercased() : text == text.uppercased())
        case "sameas":
            // Python identity; for the immutable singletons templates compare against, that is equality.
            switch (value, try operand()) {
            case (.none, .none): return true
            case let (.bool(a), .bool(b)): return a == b
            case let (.namespace(a), .namespace(b)): return a === b
            default: return false
            }
        default:
            throw EvalFailure("no test named '\(name)'")
        }
    }
}
