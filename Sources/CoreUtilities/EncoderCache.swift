/// Vision features by image content id, shared by every request that shows the same image
/// (ElasticMM's encoder-output pool, vLLM's encoder cache). The budget is in feature tokens; entries
/// a request still needs are pinned, and unpinned ones are evicted least recently used first.
///
/// ```swift
/// let cache = EncoderCache<[Float]>(budgetTokens: 4096)
/// if let f = cache.acquire("sha256…") { … } else { cache.insert("sha256…", features, tokens: 576) }
/// cache.release("sha256…")
/// ```
public final class EncoderCache<Features>: @unchecked Sendable {
    public let budgetTokens: Int
    private struct Entry {
        var features: Features
        var tokens: Int
        var pins: Int
        var lastUse: Int
    }

    private var entries: [String: Entry] = [:]
    private var clock = 0
    public private(set) var usedTokens = 0
    public private(set) var queries = 0
    public private(set) var hits = 0

    public init(budgetTokens: Int) {
        self.budgetTokens = budgetTokens
    }

    public var count: Int { entries.count }

    /// The cached features, pinned until `release`; nil (a miss) if absent.
    public func acquire(_ id: String) -> Features? {
        queries += 1
        guard let features = pin(id) else { return nil }
        hits += 1
        return features
    }

    /// Like `acquire`, without counting a query: for a second look after a counted miss (another
    /// request may have inserted the same image since).
    public func pin(_ id: String) -> Features? {
        guard var entry = entries[id] else { return nil }
        clock += 1
        entry.pins += 1
        entry.lastUse = clock
        entries[id] = entry
        return entry.features
    }

    /// Whether `tokens` more can be cached once every unpinned entry is evicted.
    public func canFit(tokens: Int) -> Bool {
        let pinned = entries.values.reduce(0) { $0 + ($1.pins > 0 ? $1.tokens : 0) }
        return pinned + tokens <= budgetTokens
    }

    /// Adds freshly encoded features, pinned once for the request that asked for them, evicting
    /// unpinned entries as needed. An entry larger than the budget is still held while pinned.
    public func insert(_ id: String, _ features: Features, tokens: Int) {
        clock += 1
        if var existing = entries[id] {
            existing.pins += 1
            existing.lastUse = clock
            entries[id] = existing
            return
        }
        evict(toFit: tokens)
        entries[id] = Entry(features: features, tokens: tokens, pins: 1, lastUse: clock)
        usedTokens += tokens
    }

    /// Unpins one use; the entry stays cached until evicted.
    public func release(_ id: String) {
        guard var entry = entries[id] else { return }
        precondition(entry.pins > 0, "encoder cache entry \(id) released more often than acquired")
        entry.pins -= 1
        entries[id] = entry
        if usedTokens > budgetTokens { evict(toFit: 0) }
    }

    private func evict(toFit tokens: Int) {
        guard usedTokens + tokens > budgetTokens else { return }
        let victims = entries.filter { $0.value.pins == 0 }.sorted { $0.value.lastUse < $1.value.lastUse }
        for (id, entry) in victims where usedTokens + tokens > budgetTokens {
            entries[id] = nil
            usedTokens -= entry.tokens
        }
    }
}
