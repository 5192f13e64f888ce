/// Python methods templates call on strings and dictionaries, e.g. `content.strip()`, `message.get('role')`.
/// Mutating methods (`append`, `pop`, …) are absent, as in transformers' immutable sandbox.
enum Methods {
    /// The method `name` bound to `receiver`, or `nil` when the type has no such (safe) method.
    static func bound(_ receiver: Value, _ name: String) -> Value? {
        switch receiver {
        case let .string(text): return stringMethod(text, name).map { .callable(Callable(name: "str.\(name)", call: $0)) }
        case let .object(object): return dictMethod(object, name).map { .callable(Callable(name: "dict.\(name)", call: $0)) }
        default: return nil
        }
    }

    private static func string(_ value: Value?, _ function: String) throws -> String? {
        guard let value, !value.pythonEquals(.none) else { return nil }
        guard case let .string(text) = value else {
            throw EvalFailure("\(function)() argument must be str, not \(value.typeName)")
        }
        return text
    }

    private static func stringMethod(_ text: String, _ name: String) -> ((CallArguments) throws -> Value)? {
        switch name {
        case "strip", "lstrip", "rstrip":
            return { arguments in
                try arguments.check(name, parameters: ["chars"])
                let chars = try string(arguments.value(0, "chars"), name)
                switch name {
                case "lstrip": return .string(PythonString.lstrip(text, chars: chars))
                case "rstrip": return .string(PythonString.rstrip(text, chars: chars))
                default: return .string(PythonString.strip(text, chars: chars))
                }
            }
        case "split":
            return { arguments in
                try arguments.check(name, parameters: ["sep", "maxsplit"])
                let separator = try string(arguments.value(0, "sep"), name)
                if separator == "" { throw EvalFailure("empty separator") }
                let maxSplit = arguments.value(1, "maxsplit")?.integer ?? -1
                return .array(PythonString.split(text, separator: separator, maxSplit: maxSplit).map(Value.string))
            }
        case "startswith", "endswith":
            return { arguments in
                try arguments.check(name, parameters: ["prefix"])
                guard let argument = arguments.value(0, "prefix") else { throw EvalFailure("\(name)() takes at least 1 argument") }
                let candidates: [Value]
                if case let .array(items) = argument { candidates = items } else { candidates = [argument] }
                for candidate in candidates {
                    guard case let .string(affix) = candidate else {
                        throw EvalFailure("\(name) first arg must be str or a tuple of str, not \(candidate.typeName)")
                    }
                    let scalars = Array(text.unicodeScalars)
                    let part = Array(affix.unicodeScalars)
                    let matches = name == "startswith" ? scalars.starts(with: part) : scalars.reversed().starts(with: part.reversed())
                    if matches { return .bool(true) }
                }
                return .bool(false)
            }
        case "upper", "lower", "title", "capitalize":
            return { arguments in
                try arguments.check(name, parameters: [])
                switch name {
                case "upper": return .string(text.uppercased())
                case "lower": return .string(text.lowercased())
                case "title": return .string(PythonString.title(text))
                default: return .string(PythonString.capitalize(text))
                }
            }
        case "replace":
            return { arguments in
                try arguments.check(name, parameters: ["old", "new", "count"])
                guard let old = try string(arguments.value(0, "old"), name), let new = try string(arguments.value(1, "new"), name) else {
                    throw EvalFailure("replace() takes at least 2 arguments")
                }
                return .string(PythonString.replace(text, old, new, count: arguments.value(2, "count")?.integer ?? -1))
            }
        case "join":
            return { arguments in
                try arguments.check(name, parameters: ["iterable"])
                guard let iterable = arguments.value(0, "iterable") else { throw EvalFailure("join() takes exactly one argument") }
                let parts = try iterable.iterate().map { item -> String in
                    guard case let .string(part) = item else {
                        throw EvalFailure("sequence item: expected str instance, \(item.typeName) found")
                    }
                    return part
                }
                return .string(parts.joined(separator: text))
            }
        case "find", "count":
            return { arguments in
                try arguments.check(name, parameters: ["sub"])
                guard let needle = try string(arguments.value(0, "sub"), name) else { throw EvalFailure("\(name)() takes at least 1 argument") }
                return .int(name == "find" ? PythonString.find(text, needle) : PythonString.count(text, needle))
            }
        default:
            return nil
        }
    }

    private static func dictMethod(_ object: Object, _ name: String) -> ((CallArguments) throws -> Value)? {
        switch name {
        case "items":
            return { arguments in
                try arguments.check(name, parameters: [])
                return .array(object.pairs.map { .array([.string($0.0), $0.1]) })
            }
        case "keys":
            return { arguments in
                try arguments.check(name, parameters: [])
                return .array(object.keys.map(Value.string))
            }
        case "values":
            return { arguments in
                try arguments.check(name, parameters: [])
                return .array(object.values)
            }
        case "get":
            return { arguments in
                try arguments.check(name, parameters: ["key", "default"])
                guard let key = arguments.value(0, "key") else { throw EvalFailure("get expected at least 1 argument") }
                guard case let .string(name) = key else { return arguments.value(1, "default") ?? .none }
                return object[name] ?? arguments.value(1, "default") ?? .none
            }
        default:
            return nil
        }
    }
}
