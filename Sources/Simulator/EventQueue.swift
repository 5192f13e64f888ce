/// A binary min-heap.
struct BinaryHeap<Element: Comparable> {
    private var heap: [Element] = []

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var min: Element? { heap.first }

    mutating func push(_ element: Element) {
        heap.append(element)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i] < heap[parent] else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l] < heap[m] { m = l }
                if r < heap.count && heap[r] < heap[m] { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }

    /// Empties the heap, returning its elements in order.
    mutating func drain() -> [Element] {
        defer { heap.removeAll() }
        return heap.sorted()
    }
}

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

    private var heap = BinaryHeap<Entry>()
    private var counter: UInt64 = 0

    mutating func push(_ payload: Payload, at time: Double) {
        counter += 1
        heap.push(Entry(time: time, sequence: counter, payload: payload))
    }

    mutating func pop() -> (time: Double, payload: Payload)? {
        heap.pop().map { ($0.time, $0.payload) }
    }
}

/// Request indices ordered by a fixed priority key, then by index.
struct PriorityQueue {
    private struct Entry: Comparable {
        var key: Double
        var id: Int

        static func < (a: Entry, b: Entry) -> Bool { (a.key, a.id) < (b.key, b.id) }
    }

    private var heap = BinaryHeap<Entry>()

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ id: Int, key: Double) { heap.push(Entry(key: key, id: id)) }
    func peek() -> Int? { heap.min?.id }
    mutating func pop() -> Int? { heap.pop()?.id }
    mutating func removeAll() -> [Int] { heap.drain().map(\.id) }
}
