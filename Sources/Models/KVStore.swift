import Tensor

/// Where the keys and values of each sequence in a batch live. Attention reads them only through
/// `segments`, so the contiguous single-sequence cache and the paged cache share all model code.
protocol KVStore {
    /// Writes `count` rows of keys and values (numKVHeads × headDim floats each) for `sequence`
    /// at positions `position ..< position + count` of `layer`.
    func store(layer: Int, sequence: Int, at position: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int)
    /// Positions `0 ..< count` of `sequence` in `layer`, in position order.
    func segments(layer: Int, sequence: Int, count: Int) -> [KVSegment]
}

/// One sequence's share of a batched forward pass: its rows in the batch, the position of the
/// first, image features that replace token embeddings, and M-RoPE positions when it has them.
struct SequenceSlice {
    let rows: Range<Int>
    let start: Int
    var images: [ImageFeatures] = []
    var mrope: MRoPEPositions? = nil
}
