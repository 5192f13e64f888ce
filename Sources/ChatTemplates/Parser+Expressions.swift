/// Expression grammar, following Jinja's precedence: conditional < or < and < not < comparison
/// < `+ -` < `~` < `* / // %` < `**` < unary < postfix, filters and tests.
extension Parser {
    /// A full expression, or several separated by commas (a tuple, represented as a list).
    mutating func parseTuple(allowConditional: Bool = true) throws -> Expression {
        let line = current.line
        var items: [Expression] = []
        var sawComma = false
        while true {
            if !items.isEmpty {
                guard skipOp(",") else { break }
                sawComma = true
                if current.kind == .variableEnd || current.kind == .blockEnd || isOp(")") { break }
            }
            items.append(allowConditional ? try parseExpression() : try parseOr())
            if !isOp(",") { break }
        }
        if items.count == 1, !sawComma, !isOp(",") { return items[0] }
        return Expression(kind: .list(items), line: line)
    }

    mutating func parseExpression() throws -> Expression {
        try nested { try $0.parseConditional() }
    }

    private mutating func parseConditional() throws -> Expression {
        var expression = try parseOr()
        while isName("if") {
            let line = current.line
            advance()
            let condition = try parseOr()
            var otherwise: Expression?
            if skipName("else") { otherwise = try parseExpression() }
            expression = Expression(kind: .conditional(condition: condition, then: expression, otherwise: otherwise), line: line)
        }
        return expression
    }

    mutating func parseOr() throws -> Expression {
        try parseLeftAssociative("or", Expression.Kind.or) { try $0.parseAnd() }
    }

    mutating func parseAnd() throws -> Expression {
        try parseLeftAssociative("and", Expression.Kind.and) { try $0.parseNot() }
    }

    /// `operand (keyword operand)*`, grouped from the left (`a or b or c` is `(a or b) or c`).
    private mutating func parseLeftAssociative(_ keyword: String, _ kind: (Expression, Expression) -> Expression.Kind,
                                               operand: (inout Parser) throws -> Expression) throws -> Expression {
        var left = try operand(&self)
        while isName(keyword) {
            let line = current.line
            advance()
            left = Expression(kind: kind(left, try operand(&self)), line: line)
        }
        return left
    }

    mutating func parseNot() throws -> Expression {
        if isName("not") {
            let line = current.line
            advance()
            return Expression(kind: .not(try nested { try $0.parseNot() }), line: line)
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> Expression {
        let line = current.line
        let first = try parseMath1()
        var operations: [(CompareOperator, Expression)] = []
        while true {
            if case let .op(symbol) = current.kind, let op = CompareOperator(rawValue: symbol), op != .in, op != .notIn {
                advance()
                operations.append((op, try parseMath1()))
            } else if skipName("in") {
                operations.append((.in, try parseMath1()))
            } else if isName("not"), peek(1).kind == .name("in") {
                advance()
                advance()
                operations.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? first : Expression(kind: .compare(first, operations), line: line)
    }

    private mutating func parseBinary(_ operators: [BinaryOperator], next: (inout Parser) throws -> Expression) throws -> Expression {
        var left = try next(&self)
        while case let .op(symbol) = current.kind, let op = BinaryOperator(rawValue: symbol), operators.contains(op) {
            let line = current.line
            advance()
            left = Expression(kind: .binary(op, left, try next(&self)), line: line)
        }
        return left
    }

    mutating func parseMath1() throws -> Expression {
        try parseBinary([.add, .subtract]) { try $0.parseConcat() }
    }

    mutating func parseConcat() throws -> Expression {
        try parseBinary([.concat]) { try $0.parseMath2() }
    }

    mutating func parseMath2() throws -> Expression {
        try parseBinary([.multiply, .divide, .floorDivide, .modulo]) { try $0.parsePow() }
    }

    mutating func parsePow() throws -> Expression {
        try parseBinary([.power]) { try $0.parseUnary() }
    }

    mutating func parseUnary(withFilter: Bool = true) throws -> Expression {
        let line = current.line
        var expression: Expression
        if skipOp("-") {
            expression = Expression(kind: .negate(try nested { try $0.parseUnary(withFilter: false) }), line: line)
        } else if skipOp("+") {
            expression = Expression(kind: .positive(try nested { try $0.parseUnary(withFilter: false) }), line: line)
        } else {
            expression = try parsePrimary()
        }
        expression = try parsePostfix(expression)
        if withFilter { expression = try parseFilterExpression(expression) }
        return expression
    }

    mutating func parsePrimary() throws -> Expression {
        let token = current
        switch token.kind {
        case let .name(name):
            advance()
            switch name {
            case "true", "True": return Expression(kind: .bool(true), line: token.line)
            case "false", "False": return Expression(kind: .bool(false), line: token.line)
            case "none", "None": return Expression(kind: .none, line: token.line)
            default: return Expression(kind: .name(name), line: token.line)
            }
        case let .string(value):
            advance()
            var text = value
            // Adjacent literals concatenate, as in Python.
            while case let .string(more) = current.kind {
                text += more
                advance()
            }
            return Expression(kind: .string(text), line: token.line)
        case let .integer(value):
            advance()
            return Expression(kind: .int(value), line: token.line)
        case let .float(value):
            advance()
            return Expression(kind: .double(value), line: token.line)
        case .op("("):
            advance()
            if skipOp(")") { return Expression(kind: .list([]), line: token.line) }
            let inner = try nested { try $0.parseTuple() }
            try expectOp(")")
            return inner
        case .op("["):
            advance()
            var items: [Expression] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return Expression(kind: .list(items), line: token.line)
        case .op("{"):
            advance()
            var pairs: [(Expression, Expression)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            try expectOp("}")
            return Expression(kind: .dict(pairs), line: token.line)
        default:
            throw syntaxError("unexpected \(token.kind.display)")
        }
    }

    mutating func parsePostfix(_ base: Expression) throws -> Expression {
        var expression = base
        while true {
            let line = current.line
            if skipOp(".") {
                switch current.kind {
                case let .name(name):
                    advance()
                    expression = Expression(kind: .attribute(expression, name), line: line)
                case let .integer(index):
                    advance()
                    expression = Expression(kind: .item(expression, Expression(kind: .int(index), line: line)), line: line)
                default:
                    throw syntaxError("expected a name after '.', got \(current.kind.display)")
                }
            } else if skipOp("[") {
                expression = try parseSubscript(expression, line: line)
            } else if isOp("(") {
                expression = Expression(kind: .call(expression, try parseCallArguments()), line: line)
            } else {
                return expression
            }
        }
    }

    private mutating func parseSubscript(_ base: Expression, line: Int) throws -> Expression {
        var start: Expression?
        if !isOp(":") { start = try parseExpression() }
        if skipOp("]") {
            guard let start else { throw syntaxError("expected a subscript") }
            return Expression(kind: .item(base, start), line: line)
        }
        if isOp(",") {
            throw ChatTemplateError.unsupported(construct: "tuple subscript", line: line)
        }
        try expectOp(":")
        var stop: Expression?
        var step: Expression?
        if !isOp("]"), !isOp(":") { stop = try parseExpression() }
        if skipOp(":"), !isOp("]") { step = try parseExpression() }
        try expectOp("]")
        return Expression(kind: .slice(base, start: start, stop: stop, step: step), line: line)
    }

    mutating func parseCallArguments() throws -> Expression.Arguments {
        try expectOp("(")
        var arguments = Expression.Arguments()
        var first = true
        while !isOp(")") {
            if !first { try expectOp(",") }
            first = false
            if isOp(")") { break }
            if isOp("*") || isOp("**") {
                throw ChatTemplateError.unsupported(construct: "argument unpacking with '*' or '**'", line: current.line)
            }
            if case let .name(name) = current.kind, peek(1).kind == .op("=") {
                advance()
                advance()
                arguments.keyword.append((name, try parseExpression()))
            } else {
                guard arguments.keyword.isEmpty else { throw syntaxError("positional argument follows keyword argument") }
                arguments.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return arguments
    }

    mutating func parseFilterExpression(_ base: Expression) throws -> Expression {
        var expression = base
        while true {
            let line = current.line
            if skipOp("|") {
                let (name, arguments) = try parseFilterCall()
                expression = Expression(kind: .filter(expression, name: name, arguments), line: line)
            } else if isName("is") {
                advance()
                expression = try parseTest(expression, line: line)
            } else if isOp("(") {
                expression = Expression(kind: .call(expression, try parseCallArguments()), line: line)
            } else {
                return expression
            }
        }
    }

    /// A filter name (possibly dotted) and its optional argument list.
    mutating func parseFilterCall() throws -> (String, Expression.Arguments) {
        let line = current.line
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        guard Filters.names.contains(name) else {
            throw ChatTemplateError.unsupported(construct: "filter '\(name)'", line: line)
        }
        let arguments = isOp("(") ? try parseCallArguments() : Expression.Arguments()
        return (name, arguments)
    }

    private mutating func parseTest(_ subject: Expression, line: Int) throws -> Expression {
        let negated = skipName("not")
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        guard TemplateTests.names.contains(name) else {
            throw ChatTemplateError.unsupported(construct: "test '\(name)'", line: line)
        }
        var arguments = Expression.Arguments()
        if isOp("(") {
            arguments = try parseCallArguments()
        } else if startsBareTestArgument() {
            arguments.positional = [try parsePostfix(try parsePrimary())]
        }
        let test = Expression(kind: .test(subject, name: name, arguments), line: line)
        return negated ? Expression(kind: .not(test), line: line) : test
    }

    /// Jinja lets a test take one argument without parentheses: `x is divisibleby 3`.
    private func startsBareTestArgument() -> Bool {
        switch current.kind {
        case let .name(name): return !["else", "or", "and", "is", "if", "in", "not"].contains(name)
        case .string, .integer, .float, .op("["), .op("{"): return true
        default: return false
        }
    }
}
