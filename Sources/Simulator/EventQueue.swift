import HeapModule

/// Timed simulation events. Ties in time are broken by insertion order, so equal-time events
/// replay identically on every run.
struct EventQueue<Payload> {
    private struct Entry: Comparable {
        var time: Double
        var sequence: UInt64
        var payload: Payload

        static func < (a: Entry, b: Entry) -> Bool { (a.time, a.sequence) < (b.time, b.sequence) }
        static func == (a: Entry, b: Entry) -> Bool { a.time == b.time && a.sequence == b.sequence }
    }

    private var heap = Heap<Entry>()
    private var counter: UInt64 = 0

    mutating func push(_ payload: Payload, at time: Double) {
        counter += 1
        heap.insert(Entry(time: time, sequence: counter, payload: payload))
    }

    mutating func pop() -> (time: Double, payload: Payload)? {
        heap.popMin().map { ($0.time, $0.payload) }
    }
}

/// Request indices ordered by a fixed priority key, then by index.
struct PriorityQueue {
    private struct Entry: Comparable {
        var key: Double
        var id: Int

        static func < (a: Entry, b: Entry) -> Bool { (a.key, a.id) < (b.key, b.id) }
    }

    private var heap = Heap<Entry>()

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ id: Int, key: Double) { heap.insert(Entry(key: key, id: id)) }
    func peek() -> Int? { heap.min?.id }
    mutating func pop() -> Int? { heap.popMin()?.id }

    /// The ids in the order they would pop.
    var ordered: [Int] { heap.unordered.sorted().map(\.id) }

    /// Empties the queue, returning its ids in order.
    mutating func removeAll() -> [Int] {
        defer { heap = Heap() }
        return ordered
    }
}
