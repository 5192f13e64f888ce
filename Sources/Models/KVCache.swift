import Tensor

/// Keys and values of one sequence, per layer, for positions 0 ..< count.
///
/// Attention reads it only through `segments(layer:count:)`, so a paged layout can replace the
/// contiguous one without touching model code. Not safe for concurrent use.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public private(set) var count: Int = 0
    public let numLayers: Int
    /// Floats per position per layer: numKVHeads × headDim.
    public let rowWidth: Int
    private let keys: [UnsafeMutablePointer<Float>]
    private let values: [UnsafeMutablePointer<Float>]

    /// A cache for `capacity` positions (negative capacities are treated as 0).
    public init(capacity: Int, numLayers: Int, rowWidth: Int) {
        self.capacity = max(0, capacity)
        self.numLayers = numLayers
        self.rowWidth = rowWidth
        let size = max(1, self.capacity * rowWidth)
        keys = (0 ..< numLayers).map { _ in .allocate(capacity: size) }
        values = (0 ..< numLayers).map { _ in .allocate(capacity: size) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Forgets every position.
    public func reset() { count = 0 }

    /// Keeps positions 0 ..< min(count, self.count); negative values clear the cache.
    public func truncate(to count: Int) { self.count = max(0, min(count, self.count)) }

    /// Writes rows of `newKeys`/`newValues` (T × rowWidth) at positions `position` ..< position+T of `layer`.
    func store(layer: Int, at position: Int, keys newKeys: Matrix, values newValues: Matrix) {
        precondition(position + newKeys.rows <= capacity && newKeys.cols == rowWidth, "KV write outside the cache")
        (keys[layer] + position * rowWidth).update(from: newKeys.data, count: newKeys.count)
        (values[layer] + position * rowWidth).update(from: newValues.data, count: newValues.count)
    }

    /// The cached positions 0 ..< total of `layer` (total may include rows stored but not yet committed).
    func segments(layer: Int, count total: Int) -> [KVSegment] {
        [KVSegment(keys: keys[layer], values: values[layer], count: total, rowStride: rowWidth)]
    }

    /// Commits `n` stored positions.
    func advance(by n: Int) { count += n }
}
