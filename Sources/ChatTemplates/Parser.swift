/// Builds the node tree for a token stream, rejecting anything outside the supported subset
/// with an error that names the construct and line.
struct Parser {
    let tokens: [Token]
    var position = 0
    /// Current nesting of blocks and sub-expressions; bounded so hostile input cannot exhaust the stack.
    var depth = 0
    static let maximumDepth = 200

    /// Jinja tags that exist but that chat templates do not need.
    private static let unsupportedTags: Set<String> = [
        "block", "extends", "include", "import", "from", "call", "filter", "autoescape", "do", "trans", "pluralize",
    ]

    init(tokens: [Token]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [Node] {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        let (nodes, _) = try parser.parseBody(until: [])
        return nodes
    }

    var current: Token { tokens[min(position, tokens.count - 1)] }

    func peek(_ offset: Int) -> Token { tokens[min(position + offset, tokens.count - 1)] }

    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    func syntaxError(_ message: String, line: Int? = nil) -> ChatTemplateError {
        .syntax(message: message, line: line ?? current.line)
    }

    func isName(_ name: String) -> Bool { current.kind == .name(name) }

    func isOp(_ op: String) -> Bool { current.kind == .op(op) }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        advance()
        return true
    }

    mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        advance()
        return true
    }

    mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw syntaxError("expected '\(op)', got \(current.kind.display)") }
    }

    mutating func expectName() throws -> String {
        guard case let .name(name) = current.kind else { throw syntaxError("expected a name, got \(current.kind.display)") }
        advance()
        return name
    }

    mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw syntaxError("expected end of statement block, got \(current.kind.display)") }
        advance()
    }

    /// Parses nodes until a `{% tag %}` whose name is in `endTags`; the tag name is consumed, the rest of
    /// that tag is left for the caller. Returns the name that ended the body (nil at end of template).
    mutating func parseBody(until endTags: Set<String>) throws -> ([Node], String?) {
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case let .text(text):
                nodes.append(Node(kind: .text(text), line: token.line))
                advance()
            case .variableBegin:
                advance()
                let expression = try parseTuple()
                guard current.kind == .variableEnd else {
                    throw syntaxError("expected end of print statement, got \(current.kind.display)")
                }
                advance()
                nodes.append(Node(kind: .output(expression), line: token.line))
            case .blockBegin:
                advance()
                guard case let .name(tag) = current.kind else {
                    throw syntaxError("expected a statement name, got \(current.kind.display)")
                }
                if endTags.contains(tag) {
                    advance()
                    return (nodes, tag)
                }
                nodes.append(try parseStatement(tag, line: token.line, insideOf: endTags))
            case .end:
                if !endTags.isEmpty {
                    let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw syntaxError("unexpected end of template, expected \(expected)")
                }
                return (nodes, nil)
            default:
                throw syntaxError("unexpected \(token.kind.display)")
            }
        }
    }

    /// Runs `body` one nesting level deeper, failing cleanly past ``maximumDepth``.
    mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else {
            throw ChatTemplateError.unsupported(construct: "nesting deeper than \(Self.maximumDepth) levels", line: current.line)
        }
        return try body(&self)
    }

    mutating func parseStatement(_ tag: String, line: Int, insideOf endTags: Set<String>) throws -> Node {
        try nested { try $0.parseStatementBody(tag, line: line, insideOf: endTags) }
    }

    private mutating func parseStatementBody(_ tag: String, line: Int, insideOf endTags: Set<String>) throws -> Node {
        advance()
        switch tag {
        case "if": return try parseIf(line: line)
        case "for": return try parseFor(line: line)
        case "set": return try parseSet(line: line)
        case "macro": return try parseMacro(line: line)
        case "with": return try parseWith(line: line)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectBlockEnd()
            return Node(kind: .group(body), line: line)
        case "break", "continue":
            try expectBlockEnd()
            return Node(kind: tag == "break" ? .breakLoop : .continueLoop, line: line)
        default:
            if Self.unsupportedTags.contains(tag) {
                throw ChatTemplateError.unsupported(construct: "tag '\(tag)'", line: line)
            }
            var message = "encountered unknown tag '\(tag)'"
            if !endTags.isEmpty {
                message += "; expected " + endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
            }
            throw syntaxError(message, line: line)
        }
    }

    mutating func parseIf(line: Int) throws -> Node {
        var branches: [(Expression, [Node])] = []
        var condition = try parseTuple(allowConditional: true)
        try expectBlockEnd()
        while true {
            let (body, endTag) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch endTag {
            case "elif":
                condition = try parseTuple(allowConditional: true)
                try expectBlockEnd()
            case "else":
                try expectBlockEnd()
                let (otherwise, _) = try parseBody(until: ["endif"])
                try expectBlockEnd()
                return Node(kind: .conditional(branches: branches, otherwise: otherwise), line: line)
            default:
                try expectBlockEnd()
                return Node(kind: .conditional(branches: branches, otherwise: []), line: line)
            }
        }
    }

    mutating func parseFor(line: Int) throws -> Node {
        let target = try parseAssignTarget(allowAttribute: false)
        guard skipName("in") else { throw syntaxError("expected 'in' in for loop, got \(current.kind.display)") }
        let iterable = try parseTuple(allowConditional: false)
        var condition: Expression?
        if skipName("if") { condition = try parseExpression() }
        if isName("recursive") {
            throw ChatTemplateError.unsupported(construct: "recursive for loop", line: current.line)
        }
        try expectBlockEnd()
        let (body, endTag) = try parseBody(until: ["endfor", "else"])
        var otherwise: [Node] = []
        if endTag == "else" {
            try expectBlockEnd()
            (otherwise, _) = try parseBody(until: ["endfor"])
        }
        try expectBlockEnd()
        return Node(kind: .loop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise), line: line)
    }

    mutating func parseSet(line: Int) throws -> Node {
        let target = try parseAssignTarget(allowAttribute: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return Node(kind: .set(target, value), line: line)
        }
        var filters: [(String, Expression.Arguments)] = []
        while skipOp("|") {
            let (name, arguments) = try parseFilterCall()
            filters.append((name, arguments))
        }
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endset"])
        try expectBlockEnd()
        return Node(kind: .setBlock(target, body: body, filters: filters), line: line)
    }

    mutating func parseMacro(line: Int) throws -> Node {
        let name = try expectName()
        try expectOp("(")
        var parameters: [(String, Expression?)] = []
        while !isOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let parameter = try expectName()
            var defaultValue: Expression?
            if skipOp("=") { defaultValue = try parseExpression() }
            parameters.append((parameter, defaultValue))
        }
        try expectOp(")")
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endmacro"])
        if case .name = current.kind { advance() }  // `{% endmacro name %}` is allowed
        try expectBlockEnd()
        return Node(kind: .macro(name: name, parameters: parameters, body: body), line: line)
    }

    mutating func parseWith(line: Int) throws -> Node {
        var assignments: [(AssignTarget, Expression)] = []
        while current.kind != .blockEnd {
            if !assignments.isEmpty { try expectOp(",") }
            let target = try parseAssignTarget(allowAttribute: false)
            try expectOp("=")
            assignments.append((target, try parseExpression()))
        }
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endwith"])
        try expectBlockEnd()
        return Node(kind: .with(assignments: assignments, body: body), line: line)
    }

    /// `name`, `a, b` or (for `set`) `namespace.attribute`.
    mutating func parseAssignTarget(allowAttribute: Bool) throws -> AssignTarget {
        var targets: [AssignTarget] = []
        repeat {
            if isOp(")") { break }
            if skipOp("(") {
                targets.append(try parseAssignTarget(allowAttribute: false))
                try expectOp(")")
                continue
            }
            let name = try expectName()
            if allowAttribute, skipOp(".") {
                return .attribute(name, try expectName())
            }
            targets.append(.name(name))
        } while skipOp(",")
        guard !targets.isEmpty else { throw syntaxError("expected an assignment target") }
        return targets.count == 1 && !isTrailingComma(targets) ? targets[0] : .tuple(targets)
    }

    private func isTrailingComma(_ targets: [AssignTarget]) -> Bool {
        position > 0 && tokens[position - 1].kind == .op(",")
    }
}
