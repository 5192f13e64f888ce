import Foundation

/// Walks the node tree and writes the output text.
final class Renderer {
    private enum Flow { case normal, breakLoop, continueLoop }

    private var output = ""
    /// Active macro calls; recursion beyond the limit is an error instead of a stack overflow.
    private var callDepth = 0
    static let maximumCallDepth = 64
    let clock: Clock

    init(clock: Clock) { self.clock = clock }

    func render(_ nodes: [Node], context: [String: TemplateValue]) throws -> String {
        var variables = Globals.make(clock: clock)
        for (name, value) in context { variables[name] = Value(value) }
        let templateScope = Scope(parent: Scope(variables))
        output = ""
        _ = try render(nodes, scope: templateScope, loopDepth: 0)
        return output
    }

    private func render(_ nodes: [Node], scope: Scope, loopDepth: Int) throws -> Flow {
        for node in nodes {
            let flow: Flow
            do {
                flow = try render(node, scope: scope, loopDepth: loopDepth)
            } catch let failure as EvalFailure {
                throw ChatTemplateError.runtime(message: failure.message, line: node.line)
            }
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func render(_ node: Node, scope: Scope, loopDepth: Int) throws -> Flow {
        switch node.kind {
        case let .text(text):
            output += text
        case let .output(expression):
            output += try evaluate(expression, scope: scope).pythonString
        case let .conditional(branches, otherwise):
            for (condition, body) in branches where try evaluate(condition, scope: scope).isTruthy {
                return try render(body, scope: scope, loopDepth: loopDepth)
            }
            return try render(otherwise, scope: scope, loopDepth: loopDepth)
        case let .loop(target, iterable, condition, body, otherwise):
            return try renderLoop(target: target, iterable: iterable, condition: condition, body: body,
                                  otherwise: otherwise, scope: scope, loopDepth: loopDepth)
        case let .set(target, expression):
            try assign(target, try evaluate(expression, scope: scope), scope: scope)
        case let .setBlock(target, body, filters):
            var value = Value.string(try capture { _ = try render(body, scope: scope, loopDepth: loopDepth) })
            for (name, arguments) in filters {
                value = try Filters.apply(name, to: value, try evaluate(arguments, scope: scope), renderer: self)
            }
            try assign(target, value, scope: scope)
        case let .macro(name, parameters, body):
            scope.set(name, .callable(makeMacro(name: name, parameters: parameters, body: body, scope: scope)))
        case let .with(assignments, body):
            let inner = Scope(parent: scope)
            for (target, expression) in assignments {
                try assign(target, try evaluate(expression, scope: scope), scope: inner)
            }
            return try render(body, scope: inner, loopDepth: loopDepth)
        case let .group(body):
            return try render(body, scope: scope, loopDepth: loopDepth)
        case .breakLoop, .continueLoop:
            guard loopDepth > 0 else {
                throw ChatTemplateError.syntax(message: "'break' and 'continue' are only allowed inside a for loop", line: node.line)
            }
            if case .breakLoop = node.kind { return .breakLoop }
            return .continueLoop
        }
        return .normal
    }

    /// Runs `body` with a fresh output buffer and returns what it wrote.
    func capture(_ body: () throws -> Void) throws -> String {
        let saved = output
        output = ""
        defer { output = saved }
        try body()
        return output
    }

    private func renderLoop(
        target: AssignTarget, iterable: Expression, condition: Expression?, body: [Node], otherwise: [Node],
        scope: Scope, loopDepth: Int
    ) throws -> Flow {
        var items = try evaluate(iterable, scope: scope).iterate()
        if let condition {
            items = try items.filter { item in
                let probe = Scope(parent: scope)
                try assign(target, item, scope: probe)
                return try evaluate(condition, scope: probe).isTruthy
            }
        }
        if items.isEmpty {
            return try render(otherwise, scope: scope, loopDepth: loopDepth)
        }
        for (index, item) in items.enumerated() {
            let iteration = Scope(parent: scope)
            try assign(target, item, scope: iteration)
            iteration.set("loop", .object(Self.loopObject(index: index, items: items)))
            if try render(body, scope: iteration, loopDepth: loopDepth + 1) == .breakLoop { break }
        }
        return .normal
    }

    /// The `loop` variable: position flags, neighbours and `loop.cycle(...)`.
    private static func loopObject(index: Int, items: [Value]) -> Object {
        let count = items.count
        var loop = Object([
            ("index", .int(index + 1)), ("index0", .int(index)),
            ("revindex", .int(count - index)), ("revindex0", .int(count - index - 1)),
            ("first", .bool(index == 0)), ("last", .bool(index == count - 1)),
            ("length", .int(count)), ("depth", .int(1)), ("depth0", .int(0)),
            ("previtem", index > 0 ? items[index - 1] : .undefined("loop.previtem")),
            ("nextitem", index + 1 < count ? items[index + 1] : .undefined("loop.nextitem")),
        ])
        loop["cycle"] = .callable(Callable(name: "loop.cycle") { arguments in
            guard !arguments.positional.isEmpty else { throw EvalFailure("no items for cycling given") }
            return arguments.positional[index % arguments.positional.count]
        })
        return loop
    }

    private func assign(_ target: AssignTarget, _ value: Value, scope: Scope) throws {
        switch target {
        case let .name(name):
            scope.set(name, value)
        case let .attribute(name, attribute):
            guard case let .namespace(namespace) = scope.lookup(name) else {
                throw EvalFailure("cannot assign attribute on non-namespace object")
            }
            try Globals.checkNamespaceKey(attribute)
            namespace.attributes[attribute] = value
        case let .tuple(targets):
            let items = try value.iterate()
            guard items.count == targets.count else {
                throw EvalFailure(items.count > targets.count
                    ? "too many values to unpack (expected \(targets.count))"
                    : "not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (target, item) in zip(targets, items) { try assign(target, item, scope: scope) }
        }
    }

    private func makeMacro(name: String, parameters: [(String, Expression?)], body: [Node], scope: Scope) -> Callable {
        Callable(name: name) { [unowned self] arguments in
            try arguments.check(name, parameters: parameters.map(\.0))
            self.callDepth += 1
            defer { self.callDepth -= 1 }
            guard self.callDepth <= Self.maximumCallDepth else {
                throw EvalFailure("macro '\(name)' recursed deeper than \(Self.maximumCallDepth) calls")
            }
            let local = Scope(parent: scope)
            for (index, (parameter, defaultValue)) in parameters.enumerated() {
                if let value = arguments.value(index, parameter) {
                    local.set(parameter, value)
                } else if let defaultValue {
                    local.set(parameter, try self.evaluate(defaultValue, scope: local))
                } else {
                    local.set(parameter, .undefined(parameter))
                }
            }
            return .string(try self.capture { _ = try self.render(body, scope: local, loopDepth: 0) })
        }
    }
}
