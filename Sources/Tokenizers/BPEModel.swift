/// A byte-pair-encoding model (`model.type == "BPE"`), tokenising one pre-tokenised word at a time.
struct BPEModel: Sendable {
    /// Token text (UTF-8) → id. Keyed by bytes, not `String`, so canonically
    /// equivalent spellings stay distinct tokens.
    let vocabulary: [[UInt8]: Int]
    /// id → token text, for ids the vocabulary defines.
    let tokens: [Int: String]
    /// Merge rules: `pairKey(left, right)` → (rank, merged id).
    let merges: [UInt64: Merge]
    /// Ids of single-character tokens, the starting symbols of a word without prefix/suffix.
    let characterIds: [Unicode.Scalar: Int]
    let unknownId: Int?
    let fuseUnknown: Bool
    /// `<0xNN>` ids by byte when `byte_fallback` is on (`nil` entries: no such token).
    let byteFallbackIds: [Int?]?
    let ignoreMerges: Bool
    let continuingSubwordPrefix: [UInt8]?
    let endOfWordSuffix: [UInt8]?
    let cache = WordCache()

    struct Merge: Sendable {
        let rank: Int32
        let id: Int32
    }

    @inline(__always)
    static func pairKey(_ left: Int, _ right: Int) -> UInt64 {
        UInt64(UInt32(truncatingIfNeeded: left)) << 32 | UInt64(UInt32(truncatingIfNeeded: right))
    }

    /// The ids for one word, with merges applied lowest rank first.
    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        guard !word.isEmpty else { return [] }
        if let cached = cache[word] { return cached }
        let ids: [Int]
        if ignoreMerges, let id = vocabulary[word.utf8Bytes] {
            ids = [id]
        } else {
            ids = mergeWord(initialSymbols(word))
        }
        cache[word] = ids
        return ids
    }

    /// One symbol per character (with prefix/suffix where configured), falling back to
    /// `<0xNN>` byte tokens, then to the unknown token.
    private func initialSymbols(_ word: [Unicode.Scalar]) -> [Symbol] {
        var symbols: [Symbol] = []
        symbols.reserveCapacity(word.count)
        // A pending unknown symbol, so consecutive unknowns can be fused.
        var unknown: Symbol? = nil
        let plain = continuingSubwordPrefix == nil && endOfWordSuffix == nil
        for index in word.indices {
            let scalar = word[index]
            var id: Int?
            var text: [UInt8] = []
            if plain {
                id = characterIds[scalar]
                if id == nil { text = Array(scalar.utf8) }
            } else {
                if index > 0, let prefix = continuingSubwordPrefix { text += prefix }
                text += scalar.utf8
                if index == word.count - 1, let suffix = endOfWordSuffix { text += suffix }
                id = vocabulary[text]
            }
            if let id {
                if let pending = unknown {
                    symbols.append(pending)
                    unknown = nil
                }
                symbols.append(Symbol(id: id))
                continue
            }
            if let byteIds = byteFallbackIds {
                let fallback = text.compactMap { byteIds[Int($0)] }
                if fallback.count == text.count {
                    // Like `tokenizers`, a pending unknown is not flushed before byte tokens.
                    for id in fallback { symbols.append(Symbol(id: id)) }
                    continue
                }
            }
            guard let unknownId else { continue }
            if unknown == nil || !fuseUnknown {
                if let pending = unknown { symbols.append(pending) }
                unknown = Symbol(id: unknownId)
            }
        }
        if let pending = unknown { symbols.append(pending) }
        return symbols
    }
}

/// One symbol of a word being merged, in a doubly linked list over an array.
struct Symbol {
    var id: Int
    var previous: Int = -1
    var next: Int = -1
    var removed = false
}
