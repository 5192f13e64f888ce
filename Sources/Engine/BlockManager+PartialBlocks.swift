import ServingAPI

/// What a cached block holds that a request's partial block can be seeded from: the tokens whose
/// KV it has, from absolute position `start`, and the image spans among them.
struct PartialBlockSource {
    var parent: UInt64
    var start: Int
    var tokens: [Int]
    var images: [ImageSpan]

    /// How many of `request`'s tokens from `start` (at most `limit`) this block holds: the same
    /// tokens, with the same images at the same positions (image placeholder tokens are all alike).
    func matchedLength(_ request: EngineRequest, limit: Int) -> Int {
        var n = 0
        while n < min(limit, tokens.count), tokens[n] == request.tokens[start + n] { n += 1 }
        let range = start ..< start + n
        return images.filter { $0.range.overlaps(range) } == request.images.filter { $0.range.overlaps(range) } ? n : 0
    }
}

/// Prefix reuse below block granularity.
///
/// Full blocks are shared by hash, but the last, partial block of a prompt never is: a prompt
/// whose every full block is cached would still recompute up to a block of tokens. So cached
/// blocks (every registered full block, and the last partial block of a freed request) are also
/// indexed by the hash of the block before them. A request whose full-block match ends there
/// takes a fresh block and copies the longest run of its next tokens from one of them, as
/// copy-on-write: the source stays cached and unchanged.
extension BlockManager {
    /// After the full-block match (ending at `parent`): seeds the request's next block from the
    /// cached block that holds the most of its next tokens.
    func seedPartialBlock(_ request: EngineRequest, parent: UInt64) {
        let start = request.computedTokens
        let limit = min(blockSize, request.count - 1 - start)
        guard limit > 0, let candidates = partialSourcesAfter[parent] else { return }
        var best = (block: -1, length: 0)
        for block in candidates {
            guard let source = partialSourceOfBlock[block], source.start == start else { continue }
            let length = source.matchedLength(request, limit: limit)
            if length > best.length { best = (block, length) }
        }
        // The source may itself be the free block handed out: its KV is then already in place.
        guard best.length > 0, let destination = freeQueue.popOldest() else { return }
        evict(destination)
        refCount[destination] = 1
        request.blockTable.append(destination)
        request.computedTokens += best.length
        if destination != best.block {
            request.pendingCopy = BlockCopy(source: best.block, destination: destination, positions: best.length)
        }
    }

    /// Indexes block `index` of `request`, just registered as a full block.
    func registerPartialSource(_ block: Int, of request: EngineRequest, index: Int, parent: UInt64) {
        addPartialSource(block, PartialBlockSource(
            parent: parent, start: index * blockSize, tokens: Array(request.tokens[index * blockSize ..< (index + 1) * blockSize]),
            images: request.images))
    }

    /// Indexes the partial block a request is about to free, when its KV has been computed (a
    /// pending copy has not run) and no one else holds it.
    func registerLastPartialBlock(of request: EngineRequest) {
        let index = request.blockHashes.count, start = index * blockSize
        let end = min(request.computedTokens, start + blockSize)
        guard request.pendingCopy == nil, index < request.blockTable.count, end > start,
              refCount[request.blockTable[index]] == 1 else { return }
        addPartialSource(request.blockTable[index], PartialBlockSource(
            parent: request.blockHashes.last ?? 0, start: start, tokens: Array(request.tokens[start ..< end]),
            images: request.images))
    }

    private func addPartialSource(_ block: Int, _ source: PartialBlockSource) {
        unregisterPartialSource(block)
        var source = source
        let range = source.start ..< source.start + source.tokens.count
        source.images = source.images.filter { $0.range.overlaps(range) }
        partialSourceOfBlock[block] = source
        partialSourcesAfter[source.parent, default: []].append(block)
    }

    func unregisterPartialSource(_ block: Int) {
        guard let source = partialSourceOfBlock[block] else { return }
        partialSourceOfBlock[block] = nil
        partialSourcesAfter[source.parent]?.removeAll { $0 == block }
        if partialSourcesAfter[source.parent]?.isEmpty == true { partialSourcesAfter[source.parent] = nil }
    }
}
