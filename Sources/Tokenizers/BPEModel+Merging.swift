import HeapModule

extension BPEModel {
    /// A candidate merge of the symbol at `position` with its right neighbour.
    private struct Candidate: Comparable {
        let rank: Int32
        let position: Int
        let mergedId: Int32

        /// Lowest rank first, then leftmost.
        static func < (a: Candidate, b: Candidate) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.position < b.position
        }
    }

    /// Applies merges until none applies, always taking the lowest-ranked (then leftmost) pair.
    /// Stale queue entries are detected and skipped instead of being removed eagerly.
    func mergeWord(_ initial: [Symbol]) -> [Int] {
        var symbols = initial
        let count = symbols.count
        guard count > 1 else { return symbols.map(\.id) }
        for index in 0..<count {
            symbols[index].previous = index - 1
            symbols[index].next = index + 1 < count ? index + 1 : -1
        }
        var heap = Heap<Candidate>()
        for index in 0..<count - 1 {
            if let merge = merges[Self.pairKey(symbols[index].id, symbols[index + 1].id)] {
                heap.insert(Candidate(rank: merge.rank, position: index, mergedId: merge.id))
            }
        }
        while let top = heap.popMin() {
            let position = top.position
            let left = symbols[position]
            guard !left.removed, left.next >= 0 else { continue }
            let rightIndex = left.next
            let right = symbols[rightIndex]
            // Skip entries made stale by an earlier merge of either symbol.
            guard let merge = merges[Self.pairKey(left.id, right.id)], merge.id == top.mergedId else { continue }

            symbols[position].id = Int(top.mergedId)
            symbols[position].next = right.next
            symbols[rightIndex].removed = true
            if right.next >= 0 { symbols[right.next].previous = position }

            let merged = symbols[position]
            if merged.previous >= 0,
               let candidate = merges[Self.pairKey(symbols[merged.previous].id, merged.id)] {
                heap.insert(Candidate(rank: candidate.rank, position: merged.previous, mergedId: candidate.id))
            }
            if merged.next >= 0, let candidate = merges[Self.pairKey(merged.id, symbols[merged.next].id)] {
                heap.insert(Candidate(rank: candidate.rank, position: position, mergedId: candidate.id))
            }
        }
        return symbols.compactMap { $0.removed ? nil : $0.id }
    }
}
