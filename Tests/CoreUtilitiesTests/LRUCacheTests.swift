import Testing
@testable import CoreUtilities

@Suite struct LRUCacheTests {
    @Test func hitsMissesAndLeastRecentlyUsedEviction() {
        var cache = LRUCache<String, String>(budget: 10)
        let got1 = cache.acquire("a")
        #expect(got1 == nil)
        cache.insert("a", "A", cost: 4)
        cache.insert("b", "B", cost: 4)
        cache.release("a")
        cache.release("b")
        let got2 = cache.acquire("a")
        #expect(got2 == "A")
        cache.release("a")
        // "b" is now the least recently used unpinned entry: inserting 4 more evicts it, not "a".
        cache.insert("c", "C", cost: 4)
        let got3 = cache.acquire("b")
        #expect(got3 == nil)
        let got4 = cache.acquire("a")
        #expect(got4 == "A")
        #expect(cache.queries == 4 && cache.hits == 2)
        #expect(cache.usedCost == 8)
    }

    @Test func useMarksRecentWithoutPinningAndPeekChangesNothing() {
        var cache = LRUCache<String, Int>(budget: 3)
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] { cache.touch(key, value, cost: 1) }
        #expect(cache.use("a") == 1)
        #expect(cache.use("x") == nil)
        #expect(cache.peek("b") == 2)
        #expect(Array(cache.recency) == ["b", "c", "a"])
        #expect(cache.queries == 2 && cache.hits == 1)
        // "a" stays unpinned: more entries evict "b" (peeked, not used), then "c", then "a".
        cache.touch("d", 4, cost: 1)
        #expect(Array(cache.recency) == ["c", "a", "d"])
        cache.touch("e", 5, cost: 2)
        #expect(Array(cache.recency) == ["d", "e"])
    }

    @Test func pinnedEntriesAreNeverEvicted() {
        var cache = LRUCache<String, Int>(budget: 8)
        cache.insert("pinned", 1, cost: 6)
        #expect(!cache.canFit(cost: 4))
        cache.insert("big", 2, cost: 6)
        // Over budget while both are pinned; releasing one lets eviction bring it back under.
        let got5 = cache.acquire("pinned")
        #expect(got5 == 1)
        cache.release("pinned")
        cache.release("pinned")
        #expect(cache.usedCost == 6 && cache.count == 1)
        let got6 = cache.acquire("big")
        #expect(got6 == 2)
    }

    @Test func touchedEntriesAreUsedWithoutPins() {
        var cache = LRUCache<UInt64, Void>(budget: 300)
        cache.touch(1, (), cost: 100)
        cache.touch(2, (), cost: 100)
        cache.touch(3, (), cost: 100)
        cache.touch(1, (), cost: 100)      // 2 is now the oldest
        cache.touch(4, (), cost: 100)
        #expect(cache.contains(1) && !cache.contains(2) && cache.contains(3) && cache.contains(4))
        cache.touch(5, (), cost: 1000)     // larger than the cache: not kept
        #expect(!cache.contains(5) && cache.usedCost == 300)
    }

    /// "a" is used three times, then "b" once (the more recent): a third entry evicts "a" by
    /// recency and "b" by frequency; among equally used entries LFU takes the least recent.
    @Test(arguments: [(CacheEviction.lru, "b"), (.lfu, "a")])
    func theEvictionPolicyChoosesWhichStays(eviction: CacheEviction, kept: String) {
        var cache = LRUCache<String, Int>(budget: 2, eviction: eviction)
        cache.insert("a", 1, cost: 1)
        cache.release("a")
        for _ in 0 ..< 2 {
            #expect(cache.acquire("a") == 1)
            cache.release("a")
        }
        cache.touch("b", 2, cost: 1)
        cache.touch("c", 3, cost: 1)
        #expect(cache.keys.sorted() == [kept, "c"].sorted())
        // "c" (one use) and, under LFU, "a" (three) remain: "d" evicts the least used, "c"; under
        // LRU "b" and "c" (one use each) remain, and "d" evicts the older, "b".
        cache.touch("d", 4, cost: 1)
        #expect(cache.keys.sorted() == (eviction == .lfu ? ["a", "d"] : ["c", "d"]))
    }

    @Test func recencyListRemovesFromTheMiddleAndPopsTheOldest() {
        var order = RecencyList<Int>()
        for k in 0 ..< 5 { order.touch(k) }
        order.touch(0)
        #expect(Array(order) == [1, 2, 3, 4, 0])
        let removed = order.remove(2)
        let removedAgain = order.remove(2)
        #expect(removed && !removedAgain)
        #expect(order.count == 4 && order.newest == 0)
        var popped: [Int] = []
        while let k = order.popOldest() { popped.append(k) }
        #expect(popped == [1, 3, 4, 0])
        #expect(order.isEmpty && order.oldest == nil && order.newest == nil)
    }
}
