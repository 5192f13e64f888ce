import Tensor

/// The KV memory of a whole engine: `blockCount` blocks of `blockSize` positions per layer, shared
/// by every running sequence through its block table (vLLM's paged attention layout). Which block
/// belongs to whom is the engine's `BlockManager`'s business; this type only holds the floats.
public final class PagedKVCache: @unchecked Sendable {
    public let blockCount: Int
    public let blockSize: Int
    public let numLayers: Int
    /// Floats per position per layer: numKVHeads × headDim.
    public let rowWidth: Int
    let keys: [UnsafeMutablePointer<Float>]
    let values: [UnsafeMutablePointer<Float>]

    /// `layers` defaults to all of the model's; a pipeline stage keeps only its own.
    public init(config: LanguageModelConfig, blockCount: Int, blockSize: Int, layers: Int? = nil) {
        self.blockCount = blockCount
        self.blockSize = blockSize
        numLayers = layers ?? config.numLayers
        rowWidth = config.numKVHeads * config.headDim
        let size = max(1, blockCount * blockSize * rowWidth)
        keys = (0 ..< numLayers).map { _ in .allocate(capacity: size) }
        values = (0 ..< numLayers).map { _ in .allocate(capacity: size) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Bytes one block takes over all layers (or `layers` of them), keys and values.
    public static func bytesPerBlock(config: LanguageModelConfig, blockSize: Int, layers: Int? = nil) -> Int {
        2 * (layers ?? config.numLayers) * blockSize * config.numKVHeads * config.headDim * MemoryLayout<Float>.size
    }

    /// Copies the first `positions` positions of block `source` into block `destination`, every
    /// layer's keys and values (copy-on-write of a shared prefix that ends inside a block).
    public func copy(block source: Int, to destination: Int, positions: Int) {
        precondition(positions <= blockSize && source != destination, "bad block copy")
        for layer in 0 ..< numLayers {
            (keys[layer] + destination * blockSize * rowWidth).update(from: keys[layer] + source * blockSize * rowWidth, count: positions * rowWidth)
            (values[layer] + destination * blockSize * rowWidth).update(from: values[layer] + source * blockSize * rowWidth, count: positions * rowWidth)
        }
    }

    /// The store seen by one batch, whose i-th sequence uses `blockTables[i]`.
    func view(blockTables: [[Int]]) -> some KVStore { BatchView(cache: self, blockTables: blockTables) }

    private struct BatchView: KVStore {
        let cache: PagedKVCache
        let blockTables: [[Int]]

        func store(layer: Int, sequence: Int, at position: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, count: Int) {
            let table = blockTables[sequence], width = cache.rowWidth, size = cache.blockSize
            for i in 0 ..< count {
                let p = position + i
                let offset = (table[p / size] * size + p % size) * width
                (cache.keys[layer] + offset).update(from: k + i * width, count: width)
                (cache.values[layer] + offset).update(from: v + i * width, count: width)
            }
        }

        func segments(layer: Int, sequence: Int, count: Int) -> [KVSegment] {
            let table = blockTables[sequence], width = cache.rowWidth, size = cache.blockSize
            return stride(from: 0, to: count, by: size).map { first in
                let offset = table[first / size] * size * width
                return KVSegment(keys: cache.keys[layer] + offset, values: cache.values[layer] + offset,
                                 count: min(size, count - first), rowStride: width)
            }
        }
    }
}

/// One sequence's part of a batched forward pass over the paged cache.
public struct BatchSequence: Sendable {
    /// The tokens to run, at positions `start ..< start + tokens.count`.
    public var tokens: [Int]
    public var start: Int
    /// The KV blocks holding positions `0 ..< start + tokens.count`, in order.
    public var blockTable: [Int]
    /// Whether to return logits of the last token (the sequence's prompt is done and a token is sampled).
    public var wantsLogits: Bool
    /// Whether to return the logits of every token of the chunk (prompt log-probabilities); they
    /// come in place of the last token's alone.
    public var allLogits = false
    /// Encoded images of the sequence's prompt, at their prompt positions; the rows that fall in
    /// `start ..< start + tokens.count` replace those tokens' embeddings (a chunk may cover part of an image).
    public var images: [ImageFeatures]
    /// The prompt's M-RoPE positions (Qwen2-VL with images); nil for plain 1-D positions.
    public var mrope: MRoPEPositions?

    public init(tokens: [Int], start: Int, blockTable: [Int], wantsLogits: Bool, images: [ImageFeatures] = [], mrope: MRoPEPositions? = nil) {
        self.tokens = tokens
        self.start = start
        self.blockTable = blockTable
        self.wantsLogits = wantsLogits
        self.images = images
        self.mrope = mrope
    }
}
