/// Values by key within a budget of cost units, evicting the least recently used first (or, with
/// ``CacheEviction/lfu``, the least frequently used); entries in use are pinned and never evicted.
///
/// One cache for every LRU/LFU of the system: the engine's encoder cache (vision features by image
/// content id, cost in feature tokens: ElasticMM's encoder-output pool, vLLM's encoder cache), the
/// server's decoded images (cost in pixel bytes), the simulator's encoder and prefix caches (image
/// hashes, cost in tokens, never pinned), the loaded LoRAs and ControlNets of the diffusion
/// serving path (cost in bytes, LRU or LFU), and the compiled grammars of constrained decoding (one
/// unit each).
///
/// ```swift
/// var cache = LRUCache<String, [Float]>(budget: 4096)
/// if let f = cache.acquire("sha256…") { … } else { cache.insert("sha256…", features, cost: 576) }
/// cache.release("sha256…")          // unpinned; evicted least recently used first
/// cache.touch("other", features, cost: 100)   // used once, not pinned
/// ```
public struct LRUCache<Key: Hashable, Value> {
    public let budget: Int
    public let eviction: CacheEviction
    fileprivate struct Entry {
        var value: Value
        var cost: Int
        var pins: Int
        /// Inserts, hits and touches since it was cached: what ``CacheEviction/lfu`` ranks by.
        var uses = 1
    }

    private var entries: [Key: Entry] = [:]
    /// Unpinned entries in eviction order; a pinned entry rejoins as the most recent when released.
    private var evictable = RecencyList<Key>()
    public private(set) var usedCost = 0
    private var pinnedCost = 0
    public private(set) var queries = 0
    public private(set) var hits = 0

    public init(budget: Int, eviction: CacheEviction = .lru) {
        self.budget = max(0, budget)
        self.eviction = eviction
    }

    public var count: Int { entries.count }

    public func contains(_ key: Key) -> Bool { entries[key] != nil }

    /// The keys cached now, in no particular order.
    public var keys: [Key] { Array(entries.keys) }

    /// The cached value, pinned until `release`; nil (a miss) if absent. Counts a query.
    public mutating func acquire(_ key: Key) -> Value? {
        queries += 1
        guard let value = pin(key) else { return nil }
        hits += 1
        entries[key]!.uses += 1
        return value
    }

    /// The cached value, marked used (the most recent) without pinning it; nil (a miss) if absent.
    /// Counts a query.
    public mutating func use(_ key: Key) -> Value? {
        queries += 1
        guard let value = entries[key]?.value else { return nil }
        hits += 1
        touch(key, value, cost: 0)
        return value
    }

    /// The cached value, its order, uses and pins left as they are; nil if absent.
    public func peek(_ key: Key) -> Value? { entries[key]?.value }

    /// The unpinned keys from the least to the most recently used: the order ``CacheEviction/lru``
    /// evicts them in.
    public var recency: RecencyList<Key> { evictable }

    /// Like `acquire`, without counting a query: for a second look after a counted miss (another
    /// request may have inserted the same key since).
    public mutating func pin(_ key: Key) -> Value? {
        guard var entry = entries[key] else { return nil }
        if entry.pins == 0 {
            evictable.remove(key)
            pinnedCost += entry.cost
        }
        entry.pins += 1
        entries[key] = entry
        return entry.value
    }

    /// Whether `cost` more fits once every unpinned entry is evicted.
    public func canFit(cost: Int) -> Bool { pinnedCost + cost <= budget }

    /// Adds a value pinned once for its caller, evicting unpinned entries as needed (an entry
    /// already cached is pinned instead). An entry larger than the budget is still held while pinned.
    public mutating func insert(_ key: Key, _ value: Value, cost: Int) {
        if pin(key) != nil {
            entries[key]!.uses += 1
            return
        }
        evict(toFit: cost)
        entries[key] = Entry(value: value, cost: cost, pins: 1)
        usedCost += cost
        pinnedCost += cost
    }

    /// Unpins one use; the entry stays cached until evicted.
    public mutating func release(_ key: Key) {
        guard var entry = entries[key] else { return }
        precondition(entry.pins > 0, "LRU cache entry \(key) released more often than acquired")
        entry.pins -= 1
        entries[key] = entry
        if entry.pins == 0 {
            pinnedCost -= entry.cost
            evictable.touch(key)
            if usedCost > budget { evict(toFit: 0) }
        }
    }

    /// Marks `key` used without pinning it, adding `value` when absent; a value larger than the
    /// whole budget is not cached.
    public mutating func touch(_ key: Key, _ value: Value, cost: Int) {
        if let entry = entries[key] {
            if entry.pins == 0 { evictable.touch(key) }
            entries[key]!.uses += 1
            return
        }
        guard cost <= budget else { return }
        evict(toFit: cost)
        entries[key] = Entry(value: value, cost: cost, pins: 0)
        usedCost += cost
        evictable.touch(key)
    }

    private mutating func evict(toFit cost: Int) {
        while usedCost + cost > budget, let victim = nextVictim() {
            evictable.remove(victim)
            usedCost -= entries.removeValue(forKey: victim)!.cost
        }
    }

    /// The unpinned entry ``eviction`` takes first: the oldest, or under LFU the fewest uses (the
    /// oldest of equals: `min` keeps the first of equal elements, and the order runs oldest first).
    private func nextVictim() -> Key? {
        switch eviction {
        case .lru: evictable.oldest
        case .lfu: evictable.min { entries[$0]!.uses < entries[$1]!.uses }
        }
    }
}

extension LRUCache: Sendable where Key: Sendable, Value: Sendable {}
extension LRUCache.Entry: Sendable where Value: Sendable {}
