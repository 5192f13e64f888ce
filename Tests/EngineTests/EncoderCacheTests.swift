import CoreUtilities
import Testing
@testable import Engine

@Suite struct EncoderCacheTests {
    @Test func hitsMissesAndLeastRecentlyUsedEviction() {
        let cache = EncoderCache<String>(budgetTokens: 10)
        #expect(cache.acquire("a") == nil)
        cache.insert("a", "A", tokens: 4)
        cache.insert("b", "B", tokens: 4)
        cache.release("a")
        cache.release("b")
        #expect(cache.acquire("a") == "A")
        cache.release("a")
        // "b" is now the least recently used unpinned entry: inserting 4 more evicts it, not "a".
        cache.insert("c", "C", tokens: 4)
        #expect(cache.acquire("b") == nil)
        #expect(cache.acquire("a") == "A")
        #expect(cache.queries == 4 && cache.hits == 2)
        #expect(cache.usedTokens == 8)
    }

    @Test func pinnedEntriesAreNeverEvicted() {
        let cache = EncoderCache<Int>(budgetTokens: 8)
        cache.insert("pinned", 1, tokens: 6)
        #expect(!cache.canFit(tokens: 4))
        cache.insert("big", 2, tokens: 6)
        // Over budget while both are pinned; releasing one lets eviction bring it back under.
        #expect(cache.acquire("pinned") == 1)
        cache.release("pinned")
        cache.release("pinned")
        #expect(cache.usedTokens == 6 && cache.count == 1)
        #expect(cache.acquire("big") == 2)
    }
}
