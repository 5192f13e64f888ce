/// A least-recently-used set of image hashes with a capacity in tokens, for the encoder-output
/// and KV prefix caches of ElasticMM's unified multimodal prefix cache and EPD's MM cache.
struct LRUCache {
    private struct Node {
        var key: UInt64
        var tokens: Int
        var prev: Int
        var next: Int
    }

    let capacity: Int
    private(set) var used = 0
    private var nodes: [Node] = []
    private var free: [Int] = []
    private var index: [UInt64: Int] = [:]
    private var head = -1  // most recent
    private var tail = -1  // least recent

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    func contains(_ key: UInt64) -> Bool { index[key] != nil }

    /// Marks `key` used, inserting it (and evicting the least recent entries) when absent.
    mutating func touch(_ key: UInt64, tokens: Int) {
        if let i = index[key] {
            unlink(i)
            pushFront(i)
            return
        }
        guard tokens <= capacity else { return }
        while used + tokens > capacity, tail >= 0 {
            let victim = tail
            unlink(victim)
            index[nodes[victim].key] = nil
            used -= nodes[victim].tokens
            free.append(victim)
        }
        let node = Node(key: key, tokens: tokens, prev: -1, next: -1)
        let i: Int
        if let reused = free.popLast() { nodes[reused] = node; i = reused } else { nodes.append(node); i = nodes.count - 1 }
        index[key] = i
        used += tokens
        pushFront(i)
    }

    private mutating func unlink(_ i: Int) {
        let p = nodes[i].prev, n = nodes[i].next
        if p >= 0 { nodes[p].next = n } else { head = n }
        if n >= 0 { nodes[n].prev = p } else { tail = p }
        nodes[i].prev = -1
        nodes[i].next = -1
    }

    private mutating func pushFront(_ i: Int) {
        nodes[i].next = head
        nodes[i].prev = -1
        if head >= 0 { nodes[head].prev = i }
        head = i
        if tail < 0 { tail = i }
    }
}
