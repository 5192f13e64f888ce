import Testing
@testable import Grammar

/// Token masks over a vocabulary of multi-byte pieces: exactly the tokens whose bytes continue
/// a sentence, end tokens only where the sentence is complete.
@Suite struct TokenMaskTests {
    // 0 `{`, 1 `}`, 2 `"a"`, 3 `:`, 4 `1`, 5 `12`, 6 `{"a":`, 7 `x`, 8 end, 9 special.
    let vocabulary = TokenVocabulary(
        tokenBytes: ["{", "}", "\"a\"", ":", "1", "12", "{\"a\":", "x", nil, nil].map { $0.map { Array($0.utf8) } },
        endTokens: [8])

    private func allowed(_ m: GrammarMatcher) -> [Int] { (0 ..< 10).filter { m.allowedTokens().contains($0) } }

    @Test func masksFollowTheGrammar() throws {
        let schema = #"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"#
        let grammar = TokenGrammar(automaton: try GrammarAutomaton(GrammarSpec.jsonSchema(schema).grammar()), vocabulary: vocabulary)
        var m = grammar.makeMatcher()
        #expect(allowed(m) == [0, 6])
        var moved = m.advance(6)
        #expect(moved)
        #expect(allowed(m) == [4, 5])
        moved = m.advance(7)
        #expect(!moved)
        moved = m.advance(5)
        #expect(moved)
        #expect(allowed(m) == [1, 4, 5])
        moved = m.advance(1)
        #expect(moved)
        #expect(m.isTerminated)
        #expect(allowed(m) == [8])
    }

    @Test func applySetsDisallowedLogitsToMinusInfinity() throws {
        let grammar = TokenGrammar(automaton: try GrammarAutomaton(GrammarSpec.choice(["x"]).grammar()), vocabulary: vocabulary)
        var logits = [Float](repeating: 1, count: 12)
        grammar.makeMatcher().allowedTokens().apply(to: &logits)
        #expect(logits.indices.filter { logits[$0] > -.infinity } == [7])
    }

    @Test func cacheCompilesOnce() throws {
        let cache = GrammarCache(vocabulary: vocabulary)
        let a = try cache.grammar(for: .regex("x+"))
        let b = try cache.grammar(for: .regex("x+"))
        #expect(a === b)
        #expect(throws: GrammarError.self) { try cache.grammar(for: .regex("(")) }
    }
}
