/// A binary min-heap of timed simulation events. Ties in time are broken by insertion order, so
/// equal-time events replay identically on every run.
struct EventQueue<Payload> {
    private struct Entry {
        var time: Double
        var sequence: UInt64
        var payload: Payload
    }

    private var heap: [Entry] = []
    private var counter: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ payload: Payload, at time: Double) {
        counter += 1
        heap.append(Entry(time: time, sequence: counter, payload: payload))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (time: Double, payload: Payload)? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && Self.less(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.less(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return (top.time, top.payload)
    }

    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }
}

/// A min-heap of request indices ordered by a fixed priority key, then by request index.
struct PriorityQueue {
    private var heap: [(key: Double, id: Int)] = []

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ id: Int, key: Double) {
        heap.append((key, id))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    func peek() -> Int? { heap.first?.id }

    mutating func pop() -> Int? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && Self.less(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.less(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top.id
    }

    mutating func removeAll() -> [Int] {
        defer { heap.removeAll() }
        return heap.sorted { Self.less($0, $1) }.map(\.id)
    }

    private static func less(_ a: (key: Double, id: Int), _ b: (key: Double, id: Int)) -> Bool {
        a.key < b.key || (a.key == b.key && a.id < b.id)
    }
}
