/// A grammar compiled to a recursive transition network: each rule is a byte-level NFA
/// (Thompson's construction) whose edges read a byte, move without input, or call another rule
/// and continue at a return state. ``GrammarMatcher`` runs it as a pushdown automaton.
///
/// Compile once per schema or grammar (``GrammarCache`` keeps them) and share: it is immutable.
public final class GrammarAutomaton: Sendable {
    struct State: Sendable {
        var bytes: [(set: ByteSet, target: Int32)] = []
        var epsilon: [Int32] = []
        var calls: [(rule: Int32, returnTo: Int32)] = []
        /// Set on a rule's final state.
        var endsRule = false
    }

    let states: [State]
    let ruleStarts: [Int32]
    let startRule: Int32

    /// Nesting beyond this many rule calls is cut off (guards left recursion and runaway depth).
    static let maxDepth = 200

    public convenience init(_ grammar: Grammar) throws(GrammarError) {
        var builder = Builder(grammar: grammar)
        try builder.build()
        self.init(states: builder.states, ruleStarts: builder.ruleStarts, startRule: builder.ruleIndex[grammar.start]!)
    }

    private init(states: [State], ruleStarts: [Int32], startRule: Int32) {
        self.states = states
        self.ruleStarts = ruleStarts
        self.startRule = startRule
    }

    private struct Builder {
        let grammar: Grammar
        var states: [State] = []
        var ruleStarts: [Int32] = []
        var ruleIndex: [String: Int32] = [:]

        init(grammar: Grammar) {
            self.grammar = grammar
            for (i, name) in grammar.rules.keys.sorted().enumerated() { ruleIndex[name] = Int32(i) }
        }

        mutating func build() throws(GrammarError) {
            guard grammar.rules[grammar.start] != nil else { throw GrammarError("grammar has no rule '\(grammar.start)'") }
            let names = grammar.rules.keys.sorted()
            ruleStarts = Array(repeating: 0, count: names.count)
            for name in names {
                let start = newState(), end = newState()
                states[Int(end)].endsRule = true
                ruleStarts[Int(ruleIndex[name]!)] = start
                try add(grammar.rules[name]!, from: start, to: end)
            }
        }

        mutating func newState() -> Int32 {
            states.append(State())
            guard states.count < 4_000_000 else { return Int32(states.count - 1) }
            return Int32(states.count - 1)
        }

        mutating func add(_ e: GrammarExpression, from s: Int32, to t: Int32) throws(GrammarError) {
            guard states.count < 2_000_000 else { throw GrammarError("the grammar is too large (over two million states)") }
            switch e {
            case let .bytes(bytes):
                guard !bytes.isEmpty else { states[Int(s)].epsilon.append(t); return }
                var current = s
                for (i, b) in bytes.enumerated() {
                    let next = i == bytes.count - 1 ? t : newState()
                    states[Int(current)].bytes.append((ByteSet([b]), next))
                    current = next
                }
            case let .byteSet(set):
                states[Int(s)].bytes.append((set, t))
            case let .sequence(items):
                guard !items.isEmpty else { states[Int(s)].epsilon.append(t); return }
                var current = s
                for (i, item) in items.enumerated() {
                    let next = i == items.count - 1 ? t : newState()
                    try add(item, from: current, to: next)
                    current = next
                }
            case let .choice(items):
                for item in items {
                    let a = newState(), b = newState()
                    states[Int(s)].epsilon.append(a)
                    try add(item, from: a, to: b)
                    states[Int(b)].epsilon.append(t)
                }
            case let .repetition(inner, lo, hi):
                var current = s
                for _ in 0 ..< lo {
                    let next = newState()
                    try add(inner, from: current, to: next)
                    current = next
                }
                if let hi {
                    for _ in lo ..< hi {
                        let next = newState()
                        states[Int(current)].epsilon.append(t)
                        try add(inner, from: current, to: next)
                        current = next
                    }
                    states[Int(current)].epsilon.append(t)
                } else {
                    let loop = newState(), back = newState()
                    states[Int(current)].epsilon.append(loop)
                    try add(inner, from: loop, to: back)
                    states[Int(back)].epsilon.append(loop)
                    states[Int(loop)].epsilon.append(t)
                }
            case let .rule(name):
                guard let r = ruleIndex[name] else { throw GrammarError("grammar refers to undefined rule '\(name)'") }
                states[Int(s)].calls.append((r, t))
            }
        }
    }
}
