/// Unreferenced KV blocks in least-recently-freed order, with O(1) removal from the middle
/// (a cached block that gets a prefix hit leaves the queue without being evicted).
///
/// Allocation takes the head, so the block freed longest ago is evicted first: LRU eviction of
/// cached prefixes falls out of the queue order, as in vLLM v1.
struct FreeBlockQueue {
    private var next: [Int]
    private var prev: [Int]
    /// Index `capacity` is the sentinel of the circular list.
    private var sentinel: Int { next.count - 1 }
    private(set) var count = 0

    init(capacity: Int) {
        next = Array(repeating: -1, count: capacity + 1)
        prev = Array(repeating: -1, count: capacity + 1)
        next[capacity] = capacity
        prev[capacity] = capacity
        for block in 0 ..< capacity { append(block) }
    }

    func contains(_ block: Int) -> Bool { next[block] >= 0 }

    mutating func append(_ block: Int) {
        assert(!contains(block), "block \(block) is already free")
        let last = prev[sentinel]
        next[last] = block
        prev[block] = last
        next[block] = sentinel
        prev[sentinel] = block
        count += 1
    }

    mutating func remove(_ block: Int) {
        assert(contains(block), "block \(block) is not free")
        next[prev[block]] = next[block]
        prev[next[block]] = prev[block]
        next[block] = -1
        prev[block] = -1
        count -= 1
    }

    mutating func popFirst() -> Int? {
        guard count > 0 else { return nil }
        let block = next[sentinel]
        remove(block)
        return block
    }
}
