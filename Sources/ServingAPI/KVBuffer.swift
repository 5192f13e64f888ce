/// The shape of one position's K/V in an engine's cache; two engines exchange KV only when theirs agree.
public struct KVLayout: Sendable, Hashable, Codable {
    public var layers: Int
    /// Floats per position per layer, for keys and again for values.
    public var rowWidth: Int

    public init(layers: Int, rowWidth: Int) {
        self.layers = layers
        self.rowWidth = rowWidth
    }

    /// Bytes `positions` positions take in the flat transfer layout (`PagedKVCache.copyOut`).
    public func byteCount(positions: Int) -> Int { 2 * layers * positions * rowWidth * MemoryLayout<Float>.size }
}

/// K/V of a prompt's positions in the flat transfer layout, in memory the receiving engine reads
/// once when it admits the request. The memory is released (unmapped, freed) with the buffer.
///
/// ```swift
/// let kv = KVBuffer(layout: layout, positions: 0 ..< 40, base: pointer, byteCount: n) { munmap(pointer, n) }
/// let events = try engine.submit(request, importing: kv)
/// ```
public final class KVBuffer: @unchecked Sendable {
    public let layout: KVLayout
    public let positions: Range<Int>
    public let base: UnsafeRawPointer
    public let byteCount: Int
    /// Qwen2-VL's `rope_deltas` of an image prompt: the tokens after its images sit at
    /// `index + mropeDelta` on every M-RoPE axis. Nil for 1-D positions.
    public let mropeDelta: Int?
    private let deallocate: () -> Void

    public init(layout: KVLayout, positions: Range<Int>, base: UnsafeRawPointer, byteCount: Int, mropeDelta: Int? = nil,
                deallocate: @escaping () -> Void) {
        self.layout = layout
        self.positions = positions
        self.base = base
        self.byteCount = byteCount
        self.mropeDelta = mropeDelta
        self.deallocate = deallocate
    }

    deinit { deallocate() }

    /// Whether the bytes hold `positions` in `layout`.
    public var isComplete: Bool { byteCount >= layout.byteCount(positions: positions.count) }
}
