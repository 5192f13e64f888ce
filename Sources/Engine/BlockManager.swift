import CoreUtilities

/// The paged KV cache's bookkeeping: fixed-size blocks, reference counts, and a prefix cache of
/// full blocks keyed by chained hashes (nano-vllm's block manager, vLLM v1's KV cache manager).
///
/// A full block's hash covers its parent's hash, its tokens and, for image tokens, the image's
/// content id and the offset into the image (ElasticMM's unified multimodal prefix cache), so two
/// prompts share KV exactly when their text and images agree. Unreferenced blocks keep their
/// hash until reused, and the least recently freed is reused first.
///
/// Below block granularity, a prompt's last partial block is seeded from a cached block that
/// starts with the same tokens (`BlockManager+PartialBlocks.swift`), so a repeated prompt computes
/// only its last token, as a token-level prefix cache (SGLang's radix cache) would.
///
/// ```swift
/// let blocks = BlockManager(blockCount: 1024, blockSize: 16)
/// blocks.admit(request)                    // prefix hit: request.computedTokens > 0
/// guard blocks.reserve(request, tokens: n) else { /* preempt someone */ }
/// request.computedTokens += n; blocks.commit(request)
/// blocks.free(request)
/// ```
public final class BlockManager: @unchecked Sendable {
    public let blockSize: Int
    public let blockCount: Int
    var refCount: [Int]
    private var hashOfBlock: [UInt64?]
    private var keyOfBlock: [BlockKey?]
    private var blockOfHash: [UInt64: Int] = [:]
    /// Unreferenced blocks, least recently freed first. Allocation takes the oldest, so LRU eviction
    /// of cached prefixes falls out of the queue order, as in vLLM v1; a cached block that gets a
    /// prefix hit leaves the middle of the queue without being evicted.
    var freeQueue = RecencyList<Int>()
    /// What each cached block holds for seeding partial blocks, and those blocks by the hash of
    /// the block before them.
    var partialSourceOfBlock: [PartialBlockSource?]
    var partialSourcesAfter: [UInt64: [Int]] = [:]

    public init(blockCount: Int, blockSize: Int) {
        precondition(blockCount > 0 && blockSize > 0)
        self.blockSize = blockSize
        self.blockCount = blockCount
        refCount = Array(repeating: 0, count: blockCount)
        hashOfBlock = Array(repeating: nil, count: blockCount)
        keyOfBlock = Array(repeating: nil, count: blockCount)
        partialSourceOfBlock = Array(repeating: nil, count: blockCount)
        for block in 0 ..< blockCount { freeQueue.touch(block) }
    }

    public var freeBlockCount: Int { freeQueue.count }
    public var usage: Double { 1 - Double(freeQueue.count) / Double(blockCount) }

    /// Blocks needed to hold `tokens` tokens.
    public func blocksFor(tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// Attaches the longest cached prefix of the request's tokens (its prompt, plus its output so far
    /// after a preemption): full blocks shared, then a partial block copied (`request.pendingCopy`,
    /// which the caller carries out before the request's next tokens run). At least one token is
    /// always left to compute: its logits pick the next token.
    public func admit(_ request: EngineRequest) {
        precondition(request.blockTable.isEmpty, "request \(request.id) already holds blocks")
        guard !request.bypassesPrefixCache else {
            request.computedTokens = 0
            request.cachedPromptTokens = 0
            return
        }
        let fullBlocks = (request.count - 1) / blockSize
        var parent: UInt64 = 0
        for index in 0 ..< fullBlocks {
            let key = BlockKey(request: request, index: index, blockSize: blockSize)
            let hash = key.hash(parent: parent)
            guard let block = blockOfHash[hash], keyOfBlock[block] == key else { break }
            if refCount[block] == 0 { freeQueue.remove(block) }
            refCount[block] += 1
            request.blockTable.append(block)
            request.blockHashes.append(hash)
            parent = hash
        }
        request.computedTokens = request.blockTable.count * blockSize
        seedPartialBlock(request, parent: parent)
        request.cachedPromptTokens = min(request.computedTokens, request.promptCount)
    }

    /// Makes the block table cover `computedTokens + tokens`; false (and nothing taken) if the
    /// free blocks do not suffice.
    public func reserve(_ request: EngineRequest, tokens: Int) -> Bool {
        let needed = blocksFor(tokens: request.computedTokens + tokens) - request.blockTable.count
        guard needed <= freeQueue.count else { return false }
        for _ in 0 ..< max(0, needed) {
            guard let block = freeQueue.popOldest() else { return false }
            evict(block)
            refCount[block] = 1
            request.blockTable.append(block)
        }
        return true
    }

    /// Registers the request's newly completed full blocks in the prefix cache.
    public func commit(_ request: EngineRequest) {
        let full = min(request.computedTokens, request.count) / blockSize
        var parent = request.blockHashes.last ?? 0
        for index in request.blockHashes.count ..< full {
            let key = BlockKey(request: request, index: index, blockSize: blockSize)
            let hash = key.hash(parent: parent)
            let block = request.blockTable[index]
            // An identical block computed by another request stays the cached one.
            if blockOfHash[hash] == nil {
                blockOfHash[hash] = block
                hashOfBlock[block] = hash
                keyOfBlock[block] = key
                registerPartialSource(block, of: request, index: index, parent: parent)
            }
            request.blockHashes.append(hash)
            parent = hash
        }
    }

    /// Releases the request's blocks, tail first so shared prefixes outlive their suffixes.
    public func free(_ request: EngineRequest) {
        registerLastPartialBlock(of: request)
        for block in request.blockTable.reversed() {
            precondition(refCount[block] > 0, "block \(block) freed twice")
            refCount[block] -= 1
            if refCount[block] == 0 { freeQueue.touch(block) }
        }
        request.resetComputation()
    }

    func evict(_ block: Int) {
        unregisterPartialSource(block)
        if let hash = hashOfBlock[block], blockOfHash[hash] == block { blockOfHash[hash] = nil }
        hashOfBlock[block] = nil
        keyOfBlock[block] = nil
    }

    /// Checks the invariants: every block is either free with no references or referenced and not free.
    func checkInvariants(live: [EngineRequest]) -> Bool {
        var expected = Array(repeating: 0, count: blockCount)
        for request in live { for block in request.blockTable { expected[block] += 1 } }
        return (0 ..< blockCount).allSatisfy { b in
            refCount[b] == expected[b] && (refCount[b] == 0) == freeQueue.contains(b)
        }
    }
}

/// What a full block holds: its tokens and, where they are image tokens, which image and where in it.
struct BlockKey: Hashable {
    var tokens: [Int]
    var images: [ImagePart]

    struct ImagePart: Hashable {
        var imageID: ImageID
        /// Offset of the block's first token relative to the image's first token (may be negative).
        var offset: Int
    }

    init(request: EngineRequest, index: Int, blockSize: Int) {
        let range = index * blockSize ..< (index + 1) * blockSize
        tokens = Array(request.tokens[range])
        images = request.images.filter { $0.range.overlaps(range) }
            .map { ImagePart(imageID: $0.imageID, offset: range.lowerBound - $0.offset) }
    }

    /// FNV-1a over the parent hash and the contents; collisions are caught by comparing keys.
    func hash(parent: UInt64) -> UInt64 {
        var h = FNV1a()
        h.mix(parent)
        for token in tokens { h.mix(UInt64(bitPattern: Int64(token))) }
        for image in images {
            image.imageID.mix(into: &h)
            h.mix(UInt64(bitPattern: Int64(image.offset)))
        }
        return h.value
    }
}
