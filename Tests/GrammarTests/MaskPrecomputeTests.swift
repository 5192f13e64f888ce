import Foundation
import Synchronization
import Testing
@testable import Grammar

/// Masks computed ahead cover every position whole tokens can reach, and equal the masks the
/// lazy path computes, so a request never waits for a trie walk once the precompute is done; a
/// ``GrammarCache`` computes them on one worker thread, however many grammars it compiles.
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
        waitForIdle(cache)
        #expect(g.hasMask(g.makeMatcher().cursor))
    }

    /// The masks a matcher sees along `path`.
    private func masks(_ grammar: TokenGrammar, along path: [Int]) -> [TokenMask] {
        var matcher = grammar.makeMatcher()
        return path.map { token in
            defer { matcher.advance(token) }
            return matcher.allowedTokens()
        }
    }

    /// Waits (a bounded poll) for the worker to find nothing pending.
    private func waitForIdle(_ cache: GrammarCache) {
        var waited = 0
        while cache.state.workerRunning, waited < 10_000 {
            Thread.sleep(forTimeInterval: 0.001)
            waited += 1
        }
    }

    @Test func manySchemasQueueOnOneWorkerMostRecentlyUsedFirstAndEvictedOnesAreSkipped() throws {
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let done = Mutex<[TokenGrammar]>([])
        let cache = GrammarCache(vocabulary: vocabulary, capacity: 4) { grammar in
            let first = done.withLock { d in d.append(grammar); return d.count == 1 }
            if first {
                started.signal()
                release.wait()
            }
        }
        let specs = (0 ..< 10).map { GrammarSpec.choice(["a\($0)"]) }
        let first = try cache.grammar(for: specs[0])
        started.wait()
        // The worker is busy with the first grammar: the others queue behind it.
        let grammars = try [first] + specs.dropFirst().map { try cache.grammar(for: $0) }
        #expect(try cache.grammar(for: specs[7]) === grammars[7])
        let queued = cache.state
        #expect(queued.workersStarted == 1)
        #expect(queued.workerRunning)
        #expect(Array(queued.grammars.recency) == [6, 8, 9, 7].map { specs[$0] })
        #expect(queued.pending == Set([6, 7, 8, 9].map { specs[$0] }))

        release.signal()
        waitForIdle(cache)
        let order = done.withLock { $0 }.map { g in grammars.firstIndex { $0 === g }! }
        // 1–5 were evicted before their turn.
        #expect(order == [0, 7, 9, 8, 6])
        #expect(cache.state.workersStarted == 1)
        #expect(cache.state.pending.isEmpty)

        // The thread ended with nothing pending; the next compiled grammar starts one again.
        let next = try cache.grammar(for: .choice(["b"]))
        waitForIdle(cache)
        #expect(done.withLock { $0.last } === next)
        #expect(cache.state.workersStarted == 2)
    }

    @Test func outputsAreTheSameWithAndWithoutThePrecompute() throws {
        let specs: [GrammarSpec] = [
            .jsonSchema(schema),
            .jsonSchema(#"{"type":"array","items":{"type":"object","properties":{"m":{"enum":[1,2,"ab"]}}},"maxItems":3}"#),
            .regex(#"[a-n]{1,3}(-[0-2]+)?"#),
            .choice(["name", "nab", "\u{2014}é"]),
            .ebnf(#"root ::= item ("," item)*"# + "\n" + #"item ::= "a" | [0-9]+ | "\"" [^"]* "\"""#),
        ]
        let ahead = GrammarCache(vocabulary: vocabulary)
        let lazy = GrammarCache(vocabulary: vocabulary, capacity: 64) { _ in }
        // Paths taken while the worker runs, then after it has finished.
        for pass in 0 ..< 2 {
            if pass == 1 { waitForIdle(ahead) }
            for spec in specs {
                let a = try ahead.grammar(for: spec), l = try lazy.grammar(for: spec)
                for seed in 1 ... 20 as ClosedRange<UInt64> {
                    let path = randomPath(l, seed: seed &+ UInt64(pass) << 32)
                    #expect(!path.isEmpty)
                    #expect(masks(a, along: path) == masks(l, along: path), "\(spec) seed \(seed)")
                }
            }
        }
        #expect(ahead.state.pending.isEmpty)
    }
}
