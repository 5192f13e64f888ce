/// Copying a sequence's K/V in and out of the paged cache, so that one engine can compute a
/// prompt's KV (prefill) and another continue from it (decode).
///
/// The flat layout is independent of block size and block ids: for each layer, the keys of every
/// position in order, then the values, each position `rowWidth` floats. Two caches of the same
/// model exchange ranges of positions whatever their block tables.
///
/// ```swift
/// let bytes = cache.transferByteCount(positions: 0 ..< 40)
/// cache.copyOut(blockTable: table, positions: 0 ..< 40, to: buffer)      // sender
/// other.copyIn(blockTable: otherTable, positions: 16 ..< 40, from: buffer, bufferPositions: 0 ..< 40)
/// ```
extension PagedKVCache {
    /// Bytes the flat layout takes for `positions`.
    public func transferByteCount(positions: Range<Int>) -> Int {
        2 * numLayers * positions.count * rowWidth * MemoryLayout<Float>.size
    }

    /// Writes positions `positions` of the sequence in `blockTable` to `buffer` in the flat layout.
    /// The table must cover `positions.upperBound`.
    public func copyOut(blockTable: [Int], positions: Range<Int>, to buffer: UnsafeMutableRawPointer) {
        let out = buffer.assumingMemoryBound(to: Float.self)
        let plane = positions.count * rowWidth
        for layer in 0 ..< numLayers {
            let keysOut = out + 2 * layer * plane, valuesOut = keysOut + plane
            forEachRun(blockTable, positions) { cacheOffset, flatRow, rows in
                (keysOut + flatRow * rowWidth).update(from: keys[layer] + cacheOffset, count: rows * rowWidth)
                (valuesOut + flatRow * rowWidth).update(from: values[layer] + cacheOffset, count: rows * rowWidth)
            }
        }
    }

    /// Reads `positions` from a flat `buffer` that holds `bufferPositions` (a superset) into the
    /// sequence's blocks.
    public func copyIn(blockTable: [Int], positions: Range<Int>, from buffer: UnsafeRawPointer, bufferPositions: Range<Int>) {
        precondition(bufferPositions.lowerBound <= positions.lowerBound && positions.upperBound <= bufferPositions.upperBound)
        let input = buffer.assumingMemoryBound(to: Float.self)
        let plane = bufferPositions.count * rowWidth
        let skip = positions.lowerBound - bufferPositions.lowerBound
        for layer in 0 ..< numLayers {
            let keysIn = input + 2 * layer * plane, valuesIn = keysIn + plane
            forEachRun(blockTable, positions) { cacheOffset, flatRow, rows in
                (keys[layer] + cacheOffset).update(from: keysIn + (skip + flatRow) * rowWidth, count: rows * rowWidth)
                (values[layer] + cacheOffset).update(from: valuesIn + (skip + flatRow) * rowWidth, count: rows * rowWidth)
            }
        }
    }

    /// Calls `body(cacheOffset, flatRow, rows)` for each run of positions contiguous in one block;
    /// `flatRow` counts from `positions.lowerBound`.
    private func forEachRun(_ table: [Int], _ positions: Range<Int>, _ body: (Int, Int, Int) -> Void) {
        var p = positions.lowerBound
        while p < positions.upperBound {
            let inBlock = p % blockSize
            let rows = min(blockSize - inBlock, positions.upperBound - p)
            body((table[p / blockSize] * blockSize + inBlock) * rowWidth, p - positions.lowerBound, rows)
            p += rows
        }
    }
}
