/// Parses the regular-expression subset Tessera constrains generation with into a
/// ``GrammarExpression`` over UTF-8 bytes.
///
/// Supported: literals and escapes (`\.`, `\n`, `\t`, `\uXXXX`), `.`, classes `[a-z_]`, `[^"]` and
/// `\d \w \s \D \W \S`, groups `( )` and `(?: )`, alternation `|`, and the quantifiers `* + ?`,
/// `{n}`, `{n,}`, `{n,m}` (lazy `?` suffixes are accepted and mean the same). `^` at the start and
/// `$` at the end are accepted (the whole output always matches). Backreferences, lookaround
/// and other anchors are refused with an error naming them.
///
/// ```swift
/// let e = try RegexParser.parse("[0-9]{3}-[0-9]{4}")
/// ```
public struct RegexParser {
    /// How a literal character becomes bytes, and which ASCII bytes classes and `.` may produce;
    /// inside a JSON string literals are escaped and classes keep to unescaped characters.
    struct Context: Sendable {
        var literal: @Sendable (Unicode.Scalar) -> GrammarExpression
        var asciiAllowed: ByteSet

        static let plain = Context(literal: { .bytes(Array(String($0).utf8)) }, asciiAllowed: .ascii)
    }

    private let scalars: [Unicode.Scalar]
    private var at = 0
    private let context: Context

    public static func parse(_ pattern: String) throws(GrammarError) -> GrammarExpression {
        try parse(pattern, context: .plain)
    }

    static func parse(_ pattern: String, context: Context) throws(GrammarError) -> GrammarExpression {
        var parser = RegexParser(scalars: Array(pattern.unicodeScalars), context: context)
        if parser.peek == "^" { parser.at += 1 }
        let e = try parser.alternation()
        guard parser.at == parser.scalars.count else {
            throw parser.error("unexpected '\(parser.scalars[parser.at])'")
        }
        return e
    }

    private init(scalars: [Unicode.Scalar], context: Context) {
        self.scalars = scalars
        self.context = context
    }

    private var peek: Unicode.Scalar? { at < scalars.count ? scalars[at] : nil }

    private func error(_ what: String) -> GrammarError {
        GrammarError("regex: \(what) at position \(at)")
    }

    private mutating func alternation() throws(GrammarError) -> GrammarExpression {
        var alternatives = [try sequence()]
        while peek == "|" {
            at += 1
            alternatives.append(try sequence())
        }
        return alternatives.count == 1 ? alternatives[0] : .choice(alternatives)
    }

    private mutating func sequence() throws(GrammarError) -> GrammarExpression {
        var items: [GrammarExpression] = []
        while let c = peek, c != "|", c != ")" {
            if c == "$", at == scalars.count - 1 { at += 1; break }
            var atom = try self.atom()
            atom = try quantified(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    private mutating func quantified(_ atom: GrammarExpression) throws(GrammarError) -> GrammarExpression {
        var e = atom
        while let q = peek {
            switch q {
            case "*": at += 1; e = .repetition(e, min: 0, max: nil)
            case "+": at += 1; e = .repetition(e, min: 1, max: nil)
            case "?": at += 1; e = .repetition(e, min: 0, max: 1)
            case "{":
                guard let (lo, hi) = try counted() else { return e }
                e = .repetition(e, min: lo, max: hi)
            default: return e
            }
            if peek == "?" || peek == "+" { at += 1 }  // lazy and possessive forms generate the same language
        }
        return e
    }

    /// `{n}`, `{n,}`, `{n,m}`; nil (and nothing consumed) when `{` does not start a quantifier.
    private mutating func counted() throws(GrammarError) -> (Int, Int?)? {
        let start = at
        at += 1
        func number() -> Int? {
            var value: Int?
            while let c = peek, let d = c.properties.numericType != nil ? Int(String(c)) : nil {
                value = (value ?? 0) * 10 + d
                at += 1
            }
            return value
        }
        guard let lo = number() else { at = start; return nil }
        var hi: Int? = lo
        if peek == "," {
            at += 1
            hi = number()
        }
        guard peek == "}" else { at = start; return nil }
        at += 1
        if let hi, hi < lo { throw error("repetition {\(lo),\(hi)} has its maximum below its minimum") }
        guard (hi ?? lo) <= Self.maxCount else { throw error("repetition counts above \(Self.maxCount) are not supported") }
        return (lo, hi)
    }

    static let maxCount = 1000

    private mutating func atom() throws(GrammarError) -> GrammarExpression {
        guard let c = peek else { throw error("unexpected end") }
        at += 1
        switch c {
        case "(":
            if peek == "?" {
                at += 1
                guard peek == ":" else { throw error("group syntax '(?\(peek.map(String.init) ?? "")' (lookaround, named groups) is not supported") }
                at += 1
            }
            let inner = try alternation()
            guard peek == ")" else { throw error("missing ')'") }
            at += 1
            return inner
        case "[": return try characterClass()
        case ".": return GrammarExpression.utf8Character(ascii: context.asciiAllowed.subtracting(ByteSet([0x0A])))
        case "\\": return try escape(inClass: false).expression(context)
        case "*", "+", "?", "{": throw error("nothing to repeat before '\(c)'")
        case "^", "$": throw error("anchor '\(c)' inside the pattern is not supported")
        default: return context.literal(c)
        }
    }

    /// What an escape stands for: one scalar, or a class.
    enum Escaped {
        case scalar(Unicode.Scalar)
        case set(ClassSet)

        func expression(_ context: Context) -> GrammarExpression {
            switch self {
            case let .scalar(s): context.literal(s)
            case let .set(set): set.expression(context)
            }
        }
    }

    private mutating func escape(inClass: Bool) throws(GrammarError) -> Escaped {
        guard let c = peek else { throw error("trailing backslash") }
        at += 1
        switch c {
        case "d": return .set(ClassSet(ranges: [("0", "9")]))
        case "D": return .set(ClassSet(ranges: [("0", "9")], negated: true))
        case "w": return .set(ClassSet.word)
        case "W": return .set(ClassSet(ranges: ClassSet.word.ranges, negated: true))
        case "s": return .set(ClassSet.space)
        case "S": return .set(ClassSet(ranges: ClassSet.space.ranges, negated: true))
        case "n": return .scalar("\n")
        case "t": return .scalar("\t")
        case "r": return .scalar("\r")
        case "f": return .scalar("\u{0C}")
        case "v": return .scalar("\u{0B}")
        case "0": return .scalar("\0")
        case "u":
            guard at + 4 <= scalars.count, let v = UInt32(String(String.UnicodeScalarView(scalars[at ..< at + 4])), radix: 16),
                  let s = Unicode.Scalar(v) else { throw error("bad \\u escape") }
            at += 4
            return .scalar(s)
        case "b" where inClass: return .scalar("\u{08}")
        default:
            if c.properties.isAlphabetic || c.properties.numericType != nil {
                throw error("escape '\\\(c)' (backreferences, anchors, Unicode classes) is not supported")
            }
            return .scalar(c)
        }
    }

    private mutating func characterClass() throws(GrammarError) -> GrammarExpression {
        var set = ClassSet(ranges: [])
        if peek == "^" { set.negated = true; at += 1 }
        var first = true
        while let c = peek, c != "]" || first {
            first = false
            at += 1
            var low: Unicode.Scalar
            if c == "\\" {
                switch try escape(inClass: true) {
                case let .scalar(s): low = s
                case let .set(inner):
                    guard !inner.negated else { throw error("negated escapes inside a class are not supported") }
                    set.ranges += inner.ranges
                    continue
                }
            } else {
                low = c
            }
            if peek == "-", at + 1 < scalars.count, scalars[at + 1] != "]" {
                at += 1
                var high = scalars[at]
                at += 1
                if high == "\\" {
                    guard case let .scalar(s) = try escape(inClass: true) else { throw error("a class cannot end a range") }
                    high = s
                }
                guard low.value <= high.value else { throw error("range \(low)-\(high) is reversed") }
                set.ranges.append((low, high))
            } else {
                set.ranges.append((low, low))
            }
        }
        guard peek == "]" else { throw error("missing ']'") }
        at += 1
        return set.expression(context)
    }
}

/// A bracket class's ranges of scalars, possibly negated.
struct ClassSet {
    var ranges: [(Unicode.Scalar, Unicode.Scalar)]
    var negated = false

    static let word = ClassSet(ranges: [("a", "z"), ("A", "Z"), ("0", "9"), ("_", "_")])
    static let space = ClassSet(ranges: [(" ", " "), ("\t", "\r")])

    func expression(_ context: RegexParser.Context) -> GrammarExpression {
        var ascii = ByteSet()
        var others: [GrammarExpression] = []
        for (lo, hi) in ranges {
            if hi.value < 0x80 {
                for v in lo.value ... hi.value { ascii.insert(UInt8(v)) }
            } else if !negated {
                // Non-ASCII members one by one (large non-ASCII ranges would need UTF-8 range splitting).
                for v in lo.value ... min(hi.value, lo.value + 4096) {
                    if let s = Unicode.Scalar(v) { others.append(context.literal(s)) }
                }
            }
        }
        if negated {
            // Any character but the listed ASCII ones (non-ASCII members of a negated class are not excluded).
            return GrammarExpression.utf8Character(ascii: context.asciiAllowed.subtracting(ascii))
        }
        // Members the context must escape (a quote inside a JSON string) keep their escaped form.
        var direct = ascii.intersection(context.asciiAllowed)
        for b in 0 ..< 128 where ascii.contains(UInt8(b)) && !direct.contains(UInt8(b)) {
            others.append(context.literal(Unicode.Scalar(UInt8(b))))
        }
        if direct.isEmpty { return others.count == 1 ? others[0] : .choice(others) }
        direct = direct.intersection(.ascii)
        return others.isEmpty ? .byteSet(direct) : .choice([.byteSet(direct)] + others)
    }
}
