import Synchronization

/// A model's vocabulary as constrained decoding sees it: the bytes each token writes (nil for
/// special tokens, which a grammar never allows) and the tokens that end generation.
public struct TokenVocabulary: Sendable {
    public let tokenBytes: [[UInt8]?]
    public let endTokens: Set<Int>
    /// Tokens by byte prefix: node 0 is the root.
    let trie: [TrieNode]

    struct TrieNode: Sendable {
        var children: [(byte: UInt8, node: Int32)] = []
        var tokens: [Int32] = []
    }

    public init(tokenBytes: [[UInt8]?], endTokens: Set<Int>) {
        self.tokenBytes = tokenBytes
        self.endTokens = endTokens
        var trie = [TrieNode()]
        for (id, bytes) in tokenBytes.enumerated() {
            guard let bytes, !bytes.isEmpty else { continue }
            var node = 0
            for b in bytes {
                if let child = trie[node].children.first(where: { $0.byte == b }) {
                    node = Int(child.node)
                } else {
                    trie.append(TrieNode())
                    trie[node].children.append((b, Int32(trie.count - 1)))
                    node = trie.count - 1
                }
            }
            trie[node].tokens.append(Int32(id))
        }
        self.trie = trie
    }

    public var count: Int { tokenBytes.count }
}

/// Which token ids may come next, one bit each.
public struct TokenMask: Sendable, Equatable {
    public private(set) var words: [UInt64]

    init(count: Int) {
        words = Array(repeating: 0, count: (count + 63) / 64)
    }

    mutating func insert(_ id: Int) {
        words[id >> 6] |= 1 << UInt64(id & 63)
    }

    public func contains(_ id: Int) -> Bool {
        id >= 0 && id >> 6 < words.count && words[id >> 6] & (1 << UInt64(id & 63)) != 0
    }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// Sets every logit whose token is not in the mask to -inf.
    public func apply(to logits: inout [Float]) {
        logits.withUnsafeMutableBufferPointer { l in
            for w in 0 ..< min(words.count, (l.count + 63) / 64) {
                let word = words[w]
                if word == .max { continue }
                let base = w * 64
                for bit in 0 ..< min(64, l.count - base) where word & (1 << UInt64(bit)) == 0 {
                    l[base + bit] = -.infinity
                }
            }
            for i in words.count * 64 ..< max(l.count, words.count * 64) { l[i] = -.infinity }
        }
    }
}

/// A compiled grammar over one model's vocabulary, shared by every request that uses it: the
/// allowed-token mask of each matcher position is computed once (walking a trie of the token
/// bytes, so tokens that share a dead prefix are dropped together) and cached.
public final class TokenGrammar: Sendable {
    public let automaton: GrammarAutomaton
    public let vocabulary: TokenVocabulary
    private let masks = Mutex<[MatcherPosition: TokenMask]>([:])
    static let maxCachedMasks = 20_000

    public init(automaton: GrammarAutomaton, vocabulary: TokenVocabulary) {
        self.automaton = automaton
        self.vocabulary = vocabulary
    }

    /// A fresh matcher at the start of the grammar.
    public func makeMatcher() -> GrammarMatcher {
        GrammarMatcher(grammar: self, position: automaton.initialPosition)
    }

    func mask(at position: MatcherPosition) -> TokenMask {
        if let cached = masks.withLock({ $0[position] }) { return cached }
        let mask = computeMask(position)
        masks.withLock { cache in
            if cache.count >= Self.maxCachedMasks { cache.removeAll(keepingCapacity: true) }
            cache[position] = mask
        }
        return mask
    }

    private func computeMask(_ position: MatcherPosition) -> TokenMask {
        var mask = TokenMask(count: vocabulary.count)
        if position.accepting {
            for id in vocabulary.endTokens where id < vocabulary.count { mask.insert(id) }
        }
        let trie = vocabulary.trie
        var work: [(node: Int32, position: MatcherPosition)] = [(0, position)]
        while let (node, at) = work.popLast() {
            let next = automaton.nextBytes(at)
            for child in trie[Int(node)].children where next.contains(child.byte) {
                let after = automaton.step(at, child.byte)
                guard !after.isDead else { continue }
                for id in trie[Int(child.node)].tokens { mask.insert(Int(id)) }
                if !trie[Int(child.node)].children.isEmpty { work.append((child.node, after)) }
            }
        }
        return mask
    }
}

/// One request's progress through a ``TokenGrammar``: the tokens allowed next, and the
/// position after each sampled token.
///
/// ```swift
/// var matcher = tokenGrammar.makeMatcher()
/// matcher.allowedTokens().apply(to: &logits)
/// let token = sampler.sample(logits)
/// matcher.advance(token)
/// if matcher.isTerminated { /* nothing may follow: stop */ }
/// ```
public struct GrammarMatcher: Sendable {
    public let grammar: TokenGrammar
    var position: MatcherPosition

    public func allowedTokens() -> TokenMask { grammar.mask(at: position) }

    /// Moves past `token`'s bytes; false (and no move) when the grammar does not allow them.
    /// An end token is allowed only at an accepting position and leaves the position as it is.
    @discardableResult
    public mutating func advance(_ token: Int) -> Bool {
        if grammar.vocabulary.endTokens.contains(token) { return position.accepting }
        guard token >= 0, token < grammar.vocabulary.count, let bytes = grammar.vocabulary.tokenBytes[token] else { return false }
        var p = position
        for b in bytes {
            p = grammar.automaton.step(p, b)
            if p.isDead { return false }
        }
        position = p
        return true
    }

    /// The output so far is a complete sentence.
    public var isAccepting: Bool { position.accepting }

    /// The output is complete and nothing may follow it.
    public var isTerminated: Bool { position.accepting && position.configurations.isEmpty }
}
