/// Functions every template can call: Jinja's `range`, `namespace`, `dict`, and transformers'
/// `raise_exception` and `strftime_now`. Context variables with the same names take precedence.
enum Globals {
    /// Upper bound on `range(...)` results, so a hostile template cannot exhaust memory.
    static let maximumRangeLength = 1_000_000

    static func make(clock: Clock) -> [String: Value] {
        [
            "range": function("range", range),
            "namespace": function("namespace") { arguments in
                .namespace(Namespace(try mapping(arguments, function: "namespace")))
            },
            "dict": function("dict") { arguments in .object(try mapping(arguments, function: "dict")) },
            "raise_exception": function("raise_exception") { arguments in
                throw ChatTemplateError.raised(message: arguments.value(0, "message")?.pythonString ?? "")
            },
            "strftime_now": function("strftime_now") { arguments in
                guard case let .string(format)? = arguments.value(0, "format") else {
                    throw EvalFailure("strftime_now() needs a format string")
                }
                return .string(try Strftime.format(format, date: clock.now, timeZone: clock.timeZone))
            },
        ]
    }

    private static func function(_ name: String, _ body: @escaping (CallArguments) throws -> Value) -> Value {
        .callable(Callable(name: name, call: body))
    }

    private static func range(_ arguments: CallArguments) throws -> Value {
        guard arguments.keyword.isEmpty else { throw EvalFailure("range() takes no keyword arguments") }
        let bounds = try arguments.positional.map { value -> Int in
            guard let number = value.integer else {
                throw EvalFailure("'\(value.typeName)' object cannot be interpreted as an integer")
            }
            return number
        }
        let (start, stop, step): (Int, Int, Int)
        switch bounds.count {
        case 1: (start, stop, step) = (0, bounds[0], 1)
        case 2: (start, stop, step) = (bounds[0], bounds[1], 1)
        case 3: (start, stop, step) = (bounds[0], bounds[1], bounds[2])
        default: throw EvalFailure("range expected 1 to 3 arguments, got \(bounds.count)")
        }
        guard step != 0 else { throw EvalFailure("range() arg 3 must not be zero") }
        let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
        guard span / Double(abs(step)) <= Double(maximumRangeLength) else {
            throw EvalFailure("range() result larger than \(maximumRangeLength) items")
        }
        return .array(stride(from: start, to: stop, by: step).map(Value.int))
    }

    /// `dict(mapping, **kwargs)` semantics shared by `dict(...)` and `namespace(...)`.
    private static func mapping(_ arguments: CallArguments, function: String) throws -> Object {
        guard arguments.positional.count <= 1 else {
            throw EvalFailure("\(function)() expected at most 1 positional argument, got \(arguments.positional.count)")
        }
        var object = Object()
        if let initial = arguments.positional.first {
            switch initial {
            case let .object(pairs): object = pairs
            case let .namespace(namespace): object = namespace.attributes
            case let .array(items):
                for item in items {
                    guard case let .array(pair) = item, pair.count == 2, case let .string(key) = pair[0] else {
                        throw EvalFailure("\(function)() needs key/value pairs with string keys")
                    }
                    object[key] = pair[1]
                }
            default:
                throw EvalFailure("'\(initial.typeName)' object is not a mapping")
            }
        }
        for (key, value) in arguments.keyword { object[key] = value }
        if function == "namespace" { try object.keys.forEach(checkNamespaceKey) }
        return object
    }

    /// transformers forbids underscore-prefixed namespace attributes, which could reach Python internals.
    static func checkNamespaceKey(_ key: String) throws {
        if key.hasPrefix("_") {
            throw EvalFailure("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(key)'. Please rename the attribute.")
        }
    }
}
