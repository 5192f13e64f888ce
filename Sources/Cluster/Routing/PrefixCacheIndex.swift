import CoreUtilities

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
    /// The recorded hashes, least recently used first.
    private var blocks = RecencyList<UInt64>()

    public init(capacityBlocks: Int, blockSize: Int) {
        self.capacityBlocks = max(1, capacityBlocks)
        self.blockSize = blockSize
    }

    /// Blocks remembered.
    public var count: Int { blocks.count }

    /// Tokens of the longest prefix of `hashes` recorded here.
    public func cachedTokens(_ hashes: [UInt64]) -> Int {
        var n = 0
        while n < hashes.count, blocks.contains(hashes[n]) { n += 1 }
        return n * blockSize
    }

    /// Remembers a prompt's blocks as just used. The first block becomes the most recent, so a
    /// shared prefix outlives the suffixes hanging off it.
    public mutating func record(_ hashes: [UInt64]) {
        for hash in hashes.reversed() { blocks.touch(hash) }
        while blocks.count > capacityBlocks { blocks.popOldest() }
    }
}
