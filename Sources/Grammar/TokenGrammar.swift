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

/// A compiled grammar over one model's vocabulary, shared by every request that uses it.
///
/// The pushdown automaton's positions are numbered as requests reach them, with their byte
/// transitions and allowed-token masks: a deterministic automaton built lazily (and ahead, by
/// ``precomputeMasks(limit:)``), so that each step costs a table lookup per byte and a cached mask. A mask is
/// computed by walking a trie of the token bytes, so tokens that share a dead prefix are dropped
/// together. Past `maxStates` numbered positions (deeply nested free-form JSON) the table starts
/// over; matchers keep their position and are renumbered on their next step.
public final class TokenGrammar: Sendable {
    public let automaton: GrammarAutomaton
    public let vocabulary: TokenVocabulary
    private let table = Mutex(PositionTable())
    static let maxStates = 100_000

    /// Numbered positions with their transitions (256 per position: `unknown`, `dead` or the next
    /// position's number) and masks.
    struct PositionTable {
        var positions: [MatcherPosition] = []
        var numbers: [MatcherPosition: Int32] = [:]
        var transitions: [Int32] = []
        var masks: [TokenMask?] = []
        var epoch = 0

        static let unknown: Int32 = -2, dead: Int32 = -1

        mutating func number(_ p: MatcherPosition) -> Int32 {
            if let n = numbers[p] { return n }
            let n = Int32(positions.count)
            positions.append(p)
            numbers[p] = n
            transitions += repeatElement(Self.unknown, count: 256)
            masks.append(nil)
            return n
        }

        mutating func startOverIfFull() {
            guard positions.count > TokenGrammar.maxStates else { return }
            self = PositionTable(epoch: epoch + 1)
        }
    }

    public init(automaton: GrammarAutomaton, vocabulary: TokenVocabulary) {
        self.automaton = automaton
        self.vocabulary = vocabulary
    }

    /// A fresh matcher at the start of the grammar.
    public func makeMatcher() -> GrammarMatcher {
        let position = automaton.initialPosition
        let (state, epoch) = table.withLock { t in
            t.startOverIfFull()
            return (t.number(position), t.epoch)
        }
        return GrammarMatcher(grammar: self, cursor: .init(state: state, epoch: epoch, position: position))
    }

    /// Where a matcher is: its position's number in the table of `epoch`, and the position itself.
    struct Cursor: Sendable {
        var state: Int32
        var epoch: Int
        var position: MatcherPosition
    }

    private func state(_ c: Cursor, _ t: inout PositionTable) -> Int32 {
        c.epoch == t.epoch ? c.state : t.number(c.position)
    }

    private func next(_ state: Int32, _ byte: UInt8, _ t: inout PositionTable) -> Int32 {
        let slot = Int(state) * 256 + Int(byte)
        var n = t.transitions[slot]
        if n == PositionTable.unknown {
            let after = automaton.step(t.positions[Int(state)], byte)
            n = after.isDead ? PositionTable.dead : t.number(after)
            t.transitions[slot] = n
        }
        return n
    }

    func mask(_ cursor: Cursor) -> TokenMask {
        table.withLock { t in
            let s = state(cursor, &t)
            if let mask = t.masks[Int(s)] { return mask }
            let mask = computeMask(s, &t).mask
            t.masks[Int(s)] = mask
            return mask
        }
    }

    /// Whether the mask at `cursor` is already computed (it is then a lookup).
    func hasMask(_ cursor: Cursor) -> Bool {
        table.withLock { t in t.masks[Int(state(cursor, &t))] != nil }
    }

    /// Computes ahead the masks of the positions that whole tokens reach from the start, breadth
    /// first, up to `limit` positions: requests with different prompts take different paths through
    /// a schema, and a mask computed when a request first reaches its position (a walk of the token
    /// trie) costs that request's step far more than the forward pass of a small model. The walks run
    /// on a table of their own, without the lock, and finished masks are published under it in
    /// batches of `batch`: a step needs the lock for every token, so the lock is taken rarely and
    /// briefly.
    /// Returns how many masks it computed, and whether every reachable position has its mask
    /// (false past `limit`).
    @discardableResult
    public func precomputeMasks(limit: Int, batch: Int = 256) -> (positions: Int, complete: Bool) {
        var local = PositionTable()
        var queue = [local.number(automaton.initialPosition)]
        var seen = Set(queue)
        var done: [(position: MatcherPosition, mask: TokenMask)] = []
        func publish() {
            table.withLock { t in
                t.startOverIfFull()
                for (position, mask) in done {
                    let shared = Int(t.number(position))
                    if t.masks[shared] == nil { t.masks[shared] = mask }
                }
            }
            done.removeAll(keepingCapacity: true)
        }
        defer { publish() }
        var head = 0
        while head < queue.count {
            guard head < limit, local.positions.count <= Self.maxStates else { return (head, false) }
            let state = queue[head]
            head += 1
            let (mask, successors) = computeMask(state, &local)
            done.append((local.positions[Int(state)], mask))
            if done.count >= batch { publish() }
            for s in successors where seen.insert(s).inserted { queue.append(s) }
        }
        return (head, true)
    }

    /// How many positions ``precomputeMasks(limit:)`` covers when a ``GrammarCache`` compiles a grammar:
    /// as many masks as fit in 64 MiB, within a quarter of the table (the positions inside tokens
    /// are numbered too).
    public var precomputeLimit: Int {
        min(Self.maxStates / 4, max(1024, (64 << 20) / max(1, (vocabulary.count + 7) / 8)))
    }

    /// The cursor after `bytes`, or nil when the grammar does not allow them.
    func advance(_ cursor: Cursor, _ bytes: [UInt8]) -> Cursor? {
        table.withLock { t in
            t.startOverIfFull()
            var s = state(cursor, &t)
            for b in bytes {
                s = next(s, b, &t)
                if s == PositionTable.dead { return nil }
            }
            return Cursor(state: s, epoch: t.epoch, position: t.positions[Int(s)])
        }
    }

    /// The mask at `state`, and the positions its tokens lead to.
    private func computeMask(_ state: Int32, _ t: inout PositionTable) -> (mask: TokenMask, successors: [Int32]) {
        var mask = TokenMask(count: vocabulary.count)
        var successors = Set<Int32>()
        if t.positions[Int(state)].accepting {
            for id in vocabulary.endTokens where id < vocabulary.count { mask.insert(id) }
        }
        let trie = vocabulary.trie
        var work: [(node: Int32, state: Int32)] = [(0, state)]
        while let (node, at) = work.popLast() {
            let bytes = automaton.nextBytes(t.positions[Int(at)])
            for child in trie[Int(node)].children where bytes.contains(child.byte) {
                let after = next(at, child.byte, &t)
                guard after != PositionTable.dead else { continue }
                if !trie[Int(child.node)].tokens.isEmpty {
                    for id in trie[Int(child.node)].tokens { mask.insert(Int(id)) }
                    successors.insert(after)
                }
                if !trie[Int(child.node)].children.isEmpty { work.append((child.node, after)) }
            }
        }
        return (mask, Array(successors))
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
    var cursor: TokenGrammar.Cursor
    var position: MatcherPosition { cursor.position }

    public func allowedTokens() -> TokenMask { grammar.mask(cursor) }

    /// Moves past `token`'s bytes; false (and no move) when the grammar does not allow them.
    /// An end token is allowed only at an accepting position and leaves the position as it is.
    @discardableResult
    public mutating func advance(_ token: Int) -> Bool {
        if grammar.vocabulary.endTokens.contains(token) { return position.accepting }
        guard token >= 0, token < grammar.vocabulary.count, let bytes = grammar.vocabulary.tokenBytes[token],
              let next = grammar.advance(cursor, bytes) else { return false }
        cursor = next
        return true
    }

    /// The output so far is a complete sentence.
    public var isAccepting: Bool { position.accepting }

    /// The output is complete and nothing may follow it.
    public var isTerminated: Bool { position.accepting && position.configurations.isEmpty }
}
