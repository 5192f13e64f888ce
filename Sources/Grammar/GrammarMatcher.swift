/// Where a matcher can be: automaton states that read a byte next, each with its stack of
/// return states; `accepting` when the input so far is a complete sentence.
struct MatcherPosition: Hashable, Sendable {
    struct Configuration: Hashable, Sendable {
        var state: Int32
        /// Return states of the enclosing rule calls, innermost last.
        var stack: [Int32]
    }

    var configurations: [Configuration]
    var accepting: Bool

    var isDead: Bool { configurations.isEmpty && !accepting }
}

extension GrammarAutomaton {
    /// The position before any input.
    var initialPosition: MatcherPosition {
        closure([.init(state: ruleStarts[Int(startRule)], stack: [])])
    }

    /// Follows moves without input (rule calls and returns included) from `seeds`, keeping the
    /// configurations that read a byte next.
    func closure(_ seeds: [MatcherPosition.Configuration]) -> MatcherPosition {
        var seen = Set<MatcherPosition.Configuration>()
        var work = seeds
        var out: [MatcherPosition.Configuration] = []
        var accepting = false
        while let c = work.popLast() {
            guard seen.insert(c).inserted else { continue }
            let state = states[Int(c.state)]
            if !state.bytes.isEmpty { out.append(c) }
            for t in state.epsilon { work.append(.init(state: t, stack: c.stack)) }
            if c.stack.count < Self.maxDepth {
                for call in state.calls {
                    work.append(.init(state: ruleStarts[Int(call.rule)], stack: c.stack + [call.returnTo]))
                }
            }
            if state.endsRule {
                if let top = c.stack.last {
                    work.append(.init(state: top, stack: Array(c.stack.dropLast())))
                } else {
                    accepting = true
                }
            }
        }
        out.sort { $0.state != $1.state ? $0.state < $1.state : $0.stack.lexicographicallyPrecedes($1.stack) }
        return MatcherPosition(configurations: out, accepting: accepting)
    }

    /// The position after reading `byte`; dead when the byte cannot come next.
    func step(_ position: MatcherPosition, _ byte: UInt8) -> MatcherPosition {
        var next: [MatcherPosition.Configuration] = []
        for c in position.configurations {
            for edge in states[Int(c.state)].bytes where edge.set.contains(byte) {
                next.append(.init(state: edge.target, stack: c.stack))
            }
        }
        return next.isEmpty ? MatcherPosition(configurations: [], accepting: false) : closure(next)
    }

    /// The bytes some configuration of `position` can read next.
    func nextBytes(_ position: MatcherPosition) -> ByteSet {
        var set = ByteSet()
        for c in position.configurations {
            for edge in states[Int(c.state)].bytes { set = set.union(edge.set) }
        }
        return set
    }

    /// Whether `text` is a complete sentence of the grammar.
    public func matches(_ text: some Sequence<UInt8>) -> Bool {
        var p = initialPosition
        for b in text {
            p = step(p, b)
            if p.isDead { return false }
        }
        return p.accepting
    }

    public func matches(_ text: String) -> Bool { matches(text.utf8) }

    /// Whether `text` can be continued into a sentence.
    public func isPrefix(_ text: String) -> Bool {
        var p = initialPosition
        for b in text.utf8 {
            p = step(p, b)
            if p.isDead { return false }
        }
        return true
    }
}
