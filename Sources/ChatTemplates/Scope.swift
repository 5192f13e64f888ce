/// One level of variable bindings. Loops, macros and `with` open a child scope, so an assignment inside
/// them does not leak out (Jinja's rule; `namespace` objects are the escape hatch). `if` opens none.
final class Scope {
    private var variables: [String: Value]
    private let parent: Scope?

    init(_ variables: [String: Value] = [:], parent: Scope? = nil) {
        self.variables = variables
        self.parent = parent
    }

    func lookup(_ name: String) -> Value? {
        var scope: Scope? = self
        while let current = scope {
            if let value = current.variables[name] { return value }
            scope = current.parent
        }
        return nil
    }

    func set(_ name: String, _ value: Value) {
        variables[name] = value
    }
}
