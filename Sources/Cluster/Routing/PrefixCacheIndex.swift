/// A router's memory of which prompt blocks an instance has computed: the chained block hashes of
/// the prompts prefilled there (``PromptBlockHashes``), bounded to what the instance's KV cache can
/// hold and forgetting the least recently used first.
///
/// It mirrors the instance's own prefix cache without asking it, as SGLang's cache-aware router
/// keeps an approximate radix tree per worker: a block the instance has since evicted may still
/// count as cached here, which costs only a less useful routing choice.
///
/// ```swift
/// var index = PrefixCacheIndex(capacityBlocks: 1024, blockSize: 16)
/// index.record(hashes)
/// index.cachedTokens(hashes)    // 16 × the blocks of the longest recorded prefix
/// ```
public struct PrefixCacheIndex: Sendable, Hashable {
    public let capacityBlocks: Int
    public let blockSize: Int
    /// Each recorded hash with its neighbours in recency order.
    private var links: [UInt64: Link] = [:]
    private var oldest: UInt64?
    private var newest: UInt64?

    private struct Link: Sendable, Hashable {
        var older: UInt64?
        var newer: UInt64?
    }

    public init(capacityBlocks: Int, blockSize: Int) {
        self.capacityBlocks = max(1, capacityBlocks)
        self.blockSize = blockSize
    }

    /// Blocks remembered.
    public var count: Int { links.count }

    /// Tokens of the longest prefix of `hashes` recorded here.
    public func cachedTokens(_ hashes: [UInt64]) -> Int {
        var blocks = 0
        while blocks < hashes.count, links[hashes[blocks]] != nil { blocks += 1 }
        return blocks * blockSize
    }

    /// Remembers a prompt's blocks as just used. The first block becomes the most recent, so a
    /// shared prefix outlives the suffixes hanging off it.
    public mutating func record(_ hashes: [UInt64]) {
        for hash in hashes.reversed() {
            unlink(hash)
            links[hash] = Link(older: newest, newer: nil)
            if let newest { links[newest]?.newer = hash }
            newest = hash
            if oldest == nil { oldest = hash }
        }
        while links.count > capacityBlocks, let victim = oldest { unlink(victim) }
    }

    private mutating func unlink(_ hash: UInt64) {
        guard let link = links.removeValue(forKey: hash) else { return }
        if let older = link.older { links[older]?.newer = link.newer } else { oldest = link.newer }
        if let newer = link.newer { links[newer]?.older = link.older } else { newest = link.older }
    }
}
