/// Expression evaluation.
extension Renderer {
    /// Jinja globals that exist upstream but are not provided here.
    private static let unsupportedGlobals: Set<String> = ["lipsum", "cycler", "joiner"]

    func evaluate(_ expression: Expression, scope: Scope) throws -> Value {
        do {
            return try evaluateUnlocated(expression, scope: scope)
        } catch let failure as EvalFailure {
            throw ChatTemplateError.runtime(message: failure.message, line: expression.line)
        }
    }

    func evaluate(_ arguments: Expression.Arguments, scope: Scope) throws -> CallArguments {
        CallArguments(
            positional: try arguments.positional.map { try evaluate($0, scope: scope) },
            keyword: try arguments.keyword.map { ($0.0, try evaluate($0.1, scope: scope)) })
    }

    private func evaluateUnlocated(_ expression: Expression, scope: Scope) throws -> Value {
        switch expression.kind {
        case .none: return .none
        case let .bool(flag): return .bool(flag)
        case let .int(number): return .int(number)
        case let .double(number): return .double(number)
        case let .string(text): return .string(text)
        case let .name(name): return scope.lookup(name) ?? .undefined(name)
        case let .list(items): return .array(try items.map { try evaluate($0, scope: scope) })
        case let .dict(pairs):
            var object = Object()
            for (keyExpression, valueExpression) in pairs {
                guard case let .string(key) = try evaluate(keyExpression, scope: scope) else {
                    throw ChatTemplateError.unsupported(construct: "dictionary keys that are not strings", line: keyExpression.line)
                }
                object[key] = try evaluate(valueExpression, scope: scope)
            }
            return .object(object)
        case let .attribute(base, name):
            return try Self.attribute(of: try evaluate(base, scope: scope), name)
        case let .item(base, key):
            return try Self.item(of: try evaluate(base, scope: scope), try evaluate(key, scope: scope))
        case let .slice(base, start, stop, step):
            return try Operators.slice(
                try evaluate(base, scope: scope),
                start: try start.map { try evaluate($0, scope: scope) },
                stop: try stop.map { try evaluate($0, scope: scope) },
                step: try step.map { try evaluate($0, scope: scope) })
        case let .call(callee, arguments):
            var receiver: Value?
            let function: Value
            if case let .attribute(base, name) = callee.kind {
                let owner = try evaluate(base, scope: scope)
                receiver = owner
                function = try Self.attribute(of: owner, name)
            } else {
                function = try evaluate(callee, scope: scope)
            }
            let values = try evaluate(arguments, scope: scope)
            switch function {
            case let .callable(callable):
                return try callable.call(values)
            case let .undefined(name):
                if case let .name(global) = callee.kind, Self.unsupportedGlobals.contains(global) {
                    throw ChatTemplateError.unsupported(construct: "global function '\(global)'", line: expression.line)
                }
                if let receiver, case .string = receiver {
                    throw ChatTemplateError.unsupported(construct: "method 'str.\(name)'", line: expression.line)
                }
                if let receiver, case .object = receiver {
                    throw ChatTemplateError.unsupported(construct: "method 'dict.\(name)'", line: expression.line)
                }
                throw EvalFailure("'\(name)' is undefined")
            default:
                throw EvalFailure("'\(function.typeName)' object is not callable")
            }
        case let .filter(base, name, arguments):
            return try Filters.apply(name, to: try evaluate(base, scope: scope), try evaluate(arguments, scope: scope), renderer: self)
        case let .test(base, name, arguments):
            return .bool(try TemplateTests.apply(name, to: try evaluate(base, scope: scope), try evaluate(arguments, scope: scope)))
        case let .negate(operand):
            return try Operators.negate(try evaluate(operand, scope: scope))
        case let .positive(operand):
            let value = try evaluate(operand, scope: scope)
            guard value.number != nil else { throw EvalFailure("bad operand type for unary +: '\(value.typeName)'") }
            if case let .bool(flag) = value { return .int(flag ? 1 : 0) }
            return value
        case let .not(operand):
            return .bool(!(try evaluate(operand, scope: scope).isTruthy))
        case let .binary(op, left, right):
            return try Operators.binary(op, try evaluate(left, scope: scope), try evaluate(right, scope: scope))
        case let .compare(first, operations):
            var left = try evaluate(first, scope: scope)
            for (op, rightExpression) in operations {
                let right = try evaluate(rightExpression, scope: scope)
                guard try Operators.compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case let .and(left, right):
            let value = try evaluate(left, scope: scope)
            return value.isTruthy ? try evaluate(right, scope: scope) : value
        case let .or(left, right):
            let value = try evaluate(left, scope: scope)
            return value.isTruthy ? value : try evaluate(right, scope: scope)
        case let .conditional(condition, then, otherwise):
            if try evaluate(condition, scope: scope).isTruthy { return try evaluate(then, scope: scope) }
            return try otherwise.map { try evaluate($0, scope: scope) } ?? .undefined("conditional expression")
        }
    }

    /// `value.name`: methods first (as Python `getattr`), then dictionary keys and namespace attributes.
    static func attribute(of value: Value, _ name: String) throws -> Value {
        switch value {
        case .undefined:
            throw EvalFailure(undefinedMessage(value))
        case let .object(object):
            return Methods.bound(value, name) ?? object[name] ?? .undefined(name)
        case let .namespace(namespace):
            return namespace.attributes[name] ?? .undefined(name)
        default:
            return Methods.bound(value, name) ?? .undefined(name)
        }
    }

    /// `value[key]`: dictionary keys, list and string indices (negative from the end), falling back to attributes.
    static func item(of value: Value, _ key: Value) throws -> Value {
        switch value {
        case .undefined:
            throw EvalFailure(undefinedMessage(value))
        case let .array(items):
            if let index = key.integer {
                let resolved = index < 0 ? index + items.count : index
                return items.indices.contains(resolved) ? items[resolved] : .undefined("list index \(index)")
            }
        case let .string(text):
            if let index = key.integer {
                let scalars = Array(text.unicodeScalars)
                let resolved = index < 0 ? index + scalars.count : index
                return scalars.indices.contains(resolved) ? .string(String(scalars[resolved])) : .undefined("string index \(index)")
            }
        case let .object(object):
            if case let .string(name) = key, let found = object[name] { return found }
        default:
            break
        }
        if case let .string(name) = key { return try attribute(of: value, name) }
        return .undefined(key.pythonRepr)
    }
}
