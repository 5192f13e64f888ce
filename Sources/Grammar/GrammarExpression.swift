/// A set of bytes, one bit each.
public struct ByteSet: Sendable, Hashable {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init() {}

    public init(_ bytes: some Sequence<UInt8>) {
        for b in bytes { insert(b) }
    }

    public init(range: ClosedRange<UInt8>) {
        for b in range { insert(b) }
    }

    public mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    public func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    public var isEmpty: Bool { words.0 | words.1 | words.2 | words.3 == 0 }

    public func union(_ o: ByteSet) -> ByteSet {
        var r = self
        r.words = (words.0 | o.words.0, words.1 | o.words.1, words.2 | o.words.2, words.3 | o.words.3)
        return r
    }

    public func subtracting(_ o: ByteSet) -> ByteSet {
        var r = self
        r.words = (words.0 & ~o.words.0, words.1 & ~o.words.1, words.2 & ~o.words.2, words.3 & ~o.words.3)
        return r
    }

    public static func == (a: ByteSet, b: ByteSet) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into h: inout Hasher) {
        h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3)
    }

    /// Every ASCII byte (0x00–0x7F).
    static let ascii = ByteSet(range: 0 ... 0x7F)
}

/// A grammar's right-hand sides over bytes: literals, byte sets, sequences, alternatives,
/// bounded or unbounded repetition, and references to named rules (which may recurse).
public indirect enum GrammarExpression: Sendable, Hashable {
    case bytes([UInt8])
    case byteSet(ByteSet)
    case sequence([GrammarExpression])
    case choice([GrammarExpression])
    /// `min` to `max` copies; `max` nil is unbounded.
    case repetition(GrammarExpression, min: Int, max: Int?)
    case rule(String)

    public static func literal(_ text: String) -> GrammarExpression { .bytes(Array(text.utf8)) }
    public static let empty = GrammarExpression.sequence([])
    public static func optional(_ e: GrammarExpression) -> GrammarExpression { .repetition(e, min: 0, max: 1) }
    public static func star(_ e: GrammarExpression) -> GrammarExpression { .repetition(e, min: 0, max: nil) }

    /// One UTF-8 encoded character whose first byte is outside `excludedASCII`: any non-ASCII
    /// scalar, or an ASCII byte in `ascii`.
    static func utf8Character(ascii: ByteSet) -> GrammarExpression {
        let cont = GrammarExpression.byteSet(ByteSet(range: 0x80 ... 0xBF))
        return .choice([
            .byteSet(ascii),
            .sequence([.byteSet(ByteSet(range: 0xC2 ... 0xDF)), cont]),
            .sequence([.byteSet(ByteSet(range: 0xE0 ... 0xEF)), cont, cont]),
            .sequence([.byteSet(ByteSet(range: 0xF0 ... 0xF4)), cont, cont, cont]),
        ])
    }
}

/// Named rules and the one generation starts from.
///
/// ```swift
/// let g = Grammar(root: .choice([.literal("yes"), .literal("no")]))
/// ```
public struct Grammar: Sendable {
    public var rules: [String: GrammarExpression]
    public var start: String

    public init(rules: [String: GrammarExpression], start: String) {
        self.rules = rules
        self.start = start
    }

    public init(root: GrammarExpression) {
        self.init(rules: ["root": root], start: "root")
    }
}

extension ByteSet {
    public func intersection(_ o: ByteSet) -> ByteSet {
        var r = self
        r.words = (words.0 & o.words.0, words.1 & o.words.1, words.2 & o.words.2, words.3 & o.words.3)
        return r
    }
}
