/// Parsed template syntax. Every node remembers its source line for error messages.
struct Expression: Sendable {
    indirect enum Kind: Sendable {
        case none
        case bool(Bool)
        case int(Int)
        case double(Double)
        case string(String)
        case name(String)
        case list([Expression])
        case dict([(Expression, Expression)])
        case attribute(Expression, String)
        case item(Expression, Expression)
        case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
        case call(Expression, Arguments)
        case filter(Expression, name: String, Arguments)
        case test(Expression, name: String, Arguments)
        case negate(Expression)
        case positive(Expression)
        case not(Expression)
        case binary(BinaryOperator, Expression, Expression)
        case compare(Expression, [(CompareOperator, Expression)])
        case and(Expression, Expression)
        case or(Expression, Expression)
        case conditional(condition: Expression, then: Expression, otherwise: Expression?)
    }

    struct Arguments: Sendable {
        var positional: [Expression] = []
        var keyword: [(String, Expression)] = []
    }

    let kind: Kind
    let line: Int
}

enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**", concat = "~"
}

enum CompareOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">=", `in` = "in", notIn = "not in"
}

/// Where `set` and `for` store values.
indirect enum AssignTarget: Sendable {
    case name(String)
    /// `{% set ns.attr = … %}`: only namespaces accept attribute assignment.
    case attribute(String, String)
    case tuple([AssignTarget])
}

struct Node: Sendable {
    indirect enum Kind: Sendable {
        case text(String)
        case output(Expression)
        case conditional(branches: [(Expression, [Node])], otherwise: [Node])
        case loop(target: AssignTarget, iterable: Expression, condition: Expression?, body: [Node], otherwise: [Node])
        case set(AssignTarget, Expression)
        case setBlock(AssignTarget, body: [Node], filters: [(String, Expression.Arguments)])
        case macro(name: String, parameters: [(String, Expression?)], body: [Node])
        case with(assignments: [(AssignTarget, Expression)], body: [Node])
        /// `{% generation %}…{% endgeneration %}` from transformers: renders its body unchanged.
        case group([Node])
        case breakLoop
        case continueLoop
    }

    let kind: Kind
    let line: Int
}
