import Tensor

/// Keys and values of one sequence, per layer, for positions 0 ..< count.
///
/// The single-sequence counterpart of `PagedKVCache`: both are `KVStore`s, so the model code is
/// the same for one request and for a batch. Not safe for concurrent use.
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

    /// Commits `n` stored positions.
    func advance(by n: Int) { count += n }
}

extension KVCache: KVStore {
    func store(layer: Int, sequence _: Int, at position: Int, keys newKeys: UnsafePointer<Float>, values newValues: UnsafePointer<Float>, count: Int) {
        precondition(position + count <= capacity, "KV write outside the cache")
        (keys[layer] + position * rowWidth).update(from: newKeys, count: count * rowWidth)
        (values[layer] + position * rowWidth).update(from: newValues, count: count * rowWidth)
    }

    func segments(layer: Int, sequence _: Int, count total: Int) -> [KVSegment] {
        [KVSegment(keys: keys[layer], values: values[layer], count: total, rowStride: rowWidth)]
    }
}
