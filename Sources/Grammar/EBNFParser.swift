/// Parses grammars in the EBNF subset of llama.cpp's GBNF (which xgrammar, and with it vLLM's
/// `guided_grammar`, also reads):
///
/// ```
/// # comments run to the end of the line
/// root   ::= answer ("," ws answer)*
/// answer ::= "yes" | "no" | [0-9]+ | "\"" [^"]* "\""
/// ws     ::= [ \t]?
/// ```
///
/// A rule is `name ::= alternatives`; an item is a `"literal"` (with `\n \t \" \\ \uXXXX`
/// escapes), a `[class]` (as in regexes, `[^…]` negated), a rule name, a `( group )`, or `.` (any
/// character), followed by `*`, `+`, `?` or `{n}`, `{n,}`, `{n,m}`. Generation starts at `root`.
public enum EBNFParser {
    public static func parse(_ source: String) throws(GrammarError) -> Grammar {
        var lexer = Lexer(Array(source.unicodeScalars))
        var tokens: [Token] = []
        while let t = try lexer.next() { tokens.append(t) }
        var parser = Parser(tokens: tokens)
        var rules: [String: GrammarExpression] = [:]
        while parser.at < tokens.count {
            guard case let .name(name) = tokens[parser.at], parser.at + 1 < tokens.count, tokens[parser.at + 1] == .defines else {
                throw GrammarError("grammar: expected 'name ::=' at token \(parser.at + 1)")
            }
            parser.at += 2
            guard rules[name] == nil else { throw GrammarError("grammar: rule '\(name)' is defined twice") }
            rules[name] = try parser.alternatives()
        }
        guard rules["root"] != nil else { throw GrammarError("grammar: no 'root' rule") }
        for (name, body) in rules {
            if let missing = undefined(in: body, rules: rules) {
                throw GrammarError("grammar: rule '\(name)' refers to undefined rule '\(missing)'")
            }
        }
        return Grammar(rules: rules, start: "root")
    }

    private static func undefined(in e: GrammarExpression, rules: [String: GrammarExpression]) -> String? {
        switch e {
        case .bytes, .byteSet: nil
        case let .sequence(items), let .choice(items): items.lazy.compactMap { undefined(in: $0, rules: rules) }.first
        case let .repetition(inner, _, _): undefined(in: inner, rules: rules)
        case let .rule(name): rules[name] == nil ? name : nil
        }
    }

    enum Token: Equatable {
        case name(String)
        case defines
        case literal(String)
        /// The source of a bracket class, including its brackets (parsed by the regex parser).
        case characterClass(String)
        case symbol(Unicode.Scalar)
        case count(Int, Int?)
    }

    struct Lexer {
        let s: [Unicode.Scalar]
        var at = 0
        init(_ s: [Unicode.Scalar]) { self.s = s }

        mutating func next() throws(GrammarError) -> Token? {
            while at < s.count {
                if s[at] == "#" {
                    while at < s.count, s[at] != "\n" { at += 1 }
                } else if s[at].properties.isWhitespace {
                    at += 1
                } else {
                    break
                }
            }
            guard at < s.count else { return nil }
            let c = s[at]
            if c == ":", at + 2 < s.count, s[at + 1] == ":", s[at + 2] == "=" {
                at += 3
                return .defines
            }
            if c == "\"" { return .literal(try quoted()) }
            if c == "[" {
                let start = at
                at += 1
                if at < s.count, s[at] == "^" { at += 1 }
                if at < s.count, s[at] == "]" { at += 1 }
                while at < s.count, s[at] != "]" { at += s[at] == "\\" ? 2 : 1 }
                guard at < s.count else { throw GrammarError("grammar: unterminated character class") }
                at += 1
                return .characterClass(String(String.UnicodeScalarView(s[start ..< at])))
            }
            if c == "{" {
                at += 1
                var numbers: [Int?] = [nil]
                while at < s.count, s[at] != "}" {
                    if s[at] == "," { numbers.append(nil) } else if let d = Int(String(s[at])) {
                        numbers[numbers.count - 1] = (numbers.last! ?? 0) * 10 + d
                    } else if !s[at].properties.isWhitespace {
                        throw GrammarError("grammar: bad repetition count")
                    }
                    at += 1
                }
                at += 1
                guard let lo = numbers[0], numbers.count <= 2 else { throw GrammarError("grammar: bad repetition count") }
                let hi = numbers.count == 1 ? lo : numbers[1]
                guard (hi ?? lo) <= RegexParser.maxCount, (hi ?? lo) >= lo else { throw GrammarError("grammar: bad repetition count {\(lo),\(hi.map(String.init) ?? "")}") }
                return .count(lo, hi)
            }
            if c.properties.isAlphabetic || c == "_" || c.properties.numericType != nil {
                let start = at
                while at < s.count, s[at].properties.isAlphabetic || s[at] == "_" || s[at] == "-" || s[at].properties.numericType != nil { at += 1 }
                return .name(String(String.UnicodeScalarView(s[start ..< at])))
            }
            guard "()|*+?.".unicodeScalars.contains(c) else { throw GrammarError("grammar: unexpected '\(c)'") }
            at += 1
            return .symbol(c)
        }

        mutating func quoted() throws(GrammarError) -> String {
            at += 1
            var out = String.UnicodeScalarView()
            while at < s.count, s[at] != "\"" {
                if s[at] == "\\", at + 1 < s.count {
                    at += 1
                    switch s[at] {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    case "u", "x":
                        let digits = s[at] == "u" ? 4 : 2
                        guard at + digits < s.count, let v = UInt32(String(String.UnicodeScalarView(s[at + 1 ... at + digits])), radix: 16),
                              let scalar = Unicode.Scalar(v) else { throw GrammarError("grammar: bad escape in literal") }
                        out.append(scalar)
                        at += digits
                    default: out.append(s[at])
                    }
                } else {
                    out.append(s[at])
                }
                at += 1
            }
            guard at < s.count else { throw GrammarError("grammar: unterminated string literal") }
            at += 1
            return String(out)
        }
    }

    struct Parser {
        let tokens: [Token]
        var at = 0

        var startsRule: Bool {
            guard at + 1 < tokens.count, case .name = tokens[at] else { return false }
            return tokens[at + 1] == .defines
        }

        mutating func alternatives() throws(GrammarError) -> GrammarExpression {
            var alts = [try sequence()]
            while at < tokens.count, tokens[at] == .symbol("|") {
                at += 1
                alts.append(try sequence())
            }
            return alts.count == 1 ? alts[0] : .choice(alts)
        }

        mutating func sequence() throws(GrammarError) -> GrammarExpression {
            var items: [GrammarExpression] = []
            while at < tokens.count, !startsRule, tokens[at] != .symbol("|"), tokens[at] != .symbol(")") {
                var item: GrammarExpression
                switch tokens[at] {
                case let .name(n): item = .rule(n)
                case let .literal(text): item = .literal(text)
                case let .characterClass(source): item = try RegexParser.parse(source)
                case .symbol("."): item = GrammarExpression.utf8Character(ascii: ByteSet.ascii.subtracting(ByteSet([0x0A])))
                case .symbol("("):
                    at += 1
                    item = try alternatives()
                    guard at < tokens.count, tokens[at] == .symbol(")") else { throw GrammarError("grammar: missing ')'") }
                default: throw GrammarError("grammar: unexpected token at \(at + 1)")
                }
                at += 1
                quantifiers: while at < tokens.count {
                    switch tokens[at] {
                    case .symbol("*"): item = .star(item)
                    case .symbol("+"): item = .repetition(item, min: 1, max: nil)
                    case .symbol("?"): item = .optional(item)
                    case let .count(lo, hi): item = .repetition(item, min: lo, max: hi)
                    default: break quantifiers
                    }
                    at += 1
                }
                items.append(item)
            }
            return items.count == 1 ? items[0] : .sequence(items)
        }
    }
}
