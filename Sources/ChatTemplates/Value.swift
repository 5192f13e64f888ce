/// A value while a template renders: the JSON-like data of ``TemplateValue`` plus Jinja's
/// undefined, namespaces and callables.
enum Value {
    /// A missing variable, key or attribute; `name` says which, for error messages.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    case object(Object)
    case namespace(Namespace)
    case callable(Callable)

    init(_ value: TemplateValue) {
        switch value {
        case .none: self = .none
        case let .bool(flag): self = .bool(flag)
        case let .int(number): self = .int(number)
        case let .double(number): self = .double(number)
        case let .string(text): self = .string(text)
        case let .array(items): self = .array(items.map(Value.init))
        case let .object(pairs): self = .object(Object(pairs.map { ($0.0, Value($0.1)) }))
        }
    }
}

/// An insertion-ordered string-keyed dictionary, like a Python `dict` built from JSON.
struct Object {
    private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    init(_ pairs: [(String, Value)] = []) {
        for (key, value) in pairs { self[key] = value }
    }

    var count: Int { keys.count }

    var pairs: [(String, Value)] { keys.map { ($0, storage[$0] ?? .none) } }

    var values: [Value] { keys.map { storage[$0] ?? .none } }

    subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
}

/// The mutable object made by `namespace(...)`; the one way a loop body can change outer state.
final class Namespace {
    var attributes: Object

    init(_ attributes: Object) { self.attributes = attributes }
}

/// Positional and keyword arguments of a call, with Python-style binding helpers.
struct CallArguments {
    var positional: [Value] = []
    var keyword: [(String, Value)] = []

    /// The argument at `index` or named `name`, or `nil` when neither was passed.
    func value(_ index: Int, _ name: String) -> Value? {
        if index < positional.count { return positional[index] }
        return keyword.last(where: { $0.0 == name })?.1
    }

    /// Rejects extra positional arguments and unknown keywords for `function`.
    func check(_ function: String, parameters: [String]) throws {
        if positional.count > parameters.count {
            throw EvalFailure("\(function)() takes at most \(parameters.count) arguments (\(positional.count) given)")
        }
        for (name, _) in keyword where !parameters.contains(name) {
            throw EvalFailure("\(function)() got an unexpected keyword argument '\(name)'")
        }
    }
}

/// A function value: a global like `range`, a bound method like `text.strip`, or a macro.
struct Callable {
    let name: String
    let call: (CallArguments) throws -> Value
}

/// An evaluation failure without position; the evaluator attaches the line.
struct EvalFailure: Error {
    let message: String

    init(_ message: String) { self.message = message }
}
