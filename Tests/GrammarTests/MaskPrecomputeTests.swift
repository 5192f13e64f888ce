import Foundation
import Testing
@testable import Grammar

/// Masks computed ahead cover every position whole tokens can reach, and equal the masks the
/// lazy path computes, so a request never waits for a trie walk once the precompute is done.
@Suite struct MaskPrecomputeTests {
    /// Single characters and multi-byte pieces of JSON, an end token and a special token.
    let vocabulary: TokenVocabulary = {
        let pieces = ["{", "}", "[", "]", "\"", ",", ":", "a", "b", "e", "m", "n", "0", "1", "2", "-", " ",
                      "\"name\"", "\"n\"", "\"tags\"", "ab", "12", "\":", "{\"", "é", "\u{2014}", nil, nil]
        return TokenVocabulary(tokenBytes: pieces.map { $0.map { Array($0.utf8) } }, endTokens: [pieces.count - 2])
    }()

    let schema = #"{"type":"object","properties":{"name":{"type":"string","maxLength":4},"n":{"type":"integer"},"#
        + #""tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":2}},"required":["name","n"]}"#

    private func grammar(_ spec: GrammarSpec) throws -> TokenGrammar {
        TokenGrammar(automaton: try GrammarAutomaton(spec.grammar()), vocabulary: vocabulary)
    }

    /// Token ids of a random path through the grammar (xorshift from `seed`), ending where only end tokens remain.
    private func randomPath(_ grammar: TokenGrammar, seed: UInt64, steps: Int = 40) -> [Int] {
        var state = seed | 1
        var matcher = grammar.makeMatcher()
        var path: [Int] = []
        for _ in 0 ..< steps {
            let mask = matcher.allowedTokens()
            let choices = (0 ..< vocabulary.count).filter { mask.contains($0) && !vocabulary.endTokens.contains($0) }
            guard !choices.isEmpty else { break }
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let token = choices[Int(state % UInt64(choices.count))]
            let moved = matcher.advance(token)
            #expect(moved)
            path.append(token)
        }
        return path
    }

    @Test func everyPositionOnAPathHasItsMaskAheadAndItEqualsTheLazyOne() throws {
        let ahead = try grammar(.jsonSchema(schema))
        #expect(ahead.precomputeMasks(limit: 100_000).complete)
        let lazy = try grammar(.jsonSchema(schema))
        for seed in 1 ... 40 as ClosedRange<UInt64> {
            let path = randomPath(lazy, seed: seed)
            #expect(path.count > 3)
            var matcher = ahead.makeMatcher()
            var twin = lazy.makeMatcher()
            for token in path {
                #expect(ahead.hasMask(matcher.cursor))
                #expect(matcher.allowedTokens() == twin.allowedTokens())
                let moved = matcher.advance(token)
                #expect(moved)
                twin.advance(token)
            }
            #expect(ahead.hasMask(matcher.cursor))
        }
    }

    @Test func anUnboundedGrammarStopsAtTheLimit() throws {
        let g = try grammar(.jsonObject)
        #expect(g.precomputeMasks(limit: 50) == (50, false))
        // The lazy path still answers past the limit.
        #expect(randomPath(g, seed: 7, steps: 60).count > 10)
    }

    @Test func aCompiledGrammarIsSharedAndItsMasksAreComputedAhead() throws {
        let cache = GrammarCache(vocabulary: vocabulary)
        let g = try cache.grammar(for: .jsonSchema(schema))
        #expect(try cache.grammar(for: .jsonSchema(schema)) === g)
        // The precompute thread finishes well within a few seconds on this 28-token vocabulary.
        var waited = 0
        while !g.hasMask(g.makeMatcher().cursor), waited < 5000 {
            Thread.sleep(forTimeInterval: 0.001)
            waited += 1
        }
        #expect(g.hasMask(g.makeMatcher().cursor))
    }
}
