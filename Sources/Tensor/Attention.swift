import CKernels
import COpenBLAS

/// A contiguous run of cached keys and values for one layer: `count` positions, each row holding
/// all KV heads (`rowStride` floats apart). A contiguous cache is one segment; a paged cache
/// passes one segment per block, in position order.
public struct KVSegment: @unchecked Sendable {
    public let keys: UnsafePointer<Float>
    public let values: UnsafePointer<Float>
    public let count: Int
    public let rowStride: Int

    public init(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int, rowStride: Int) {
        self.keys = keys
        self.values = values
        self.count = count
        self.rowStride = rowStride
    }
}

/// Head layout of multi-head attention with grouped KV heads.
public struct AttentionShape: Sendable {
    public let numHeads: Int
    public let numKVHeads: Int
    public let headDim: Int
    /// Multiplier of q·k, usually 1/√headDim.
    public let scale: Float
    public let softmax: SoftmaxOrder

    public init(numHeads: Int, numKVHeads: Int, headDim: Int, scale: Float? = nil, softmax: SoftmaxOrder = .blocked) {
        precondition(numKVHeads > 0 && numHeads % numKVHeads == 0, "heads must be a multiple of KV heads")
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.scale = scale ?? 1 / Float(headDim).squareRoot()
        self.softmax = softmax
    }
}

/// How attention forms its softmax; both give the same values up to rounding.
public enum SoftmaxOrder: Sendable, Equatable {
    /// All scores of a row first (blocked matrix products for prompts), as transformers does.
    case blocked
    /// One key at a time with a running maximum and sum, in ggml's flash-attention order, as
    /// llama.cpp's CPU backend does for fewer than `Attention.onlineRowLimit` query rows (for more it
    /// switches to a tiled kernel, which is not reproduced: those prompts use the blocked form).
    case online
    /// `online` with float16 queries, keys, values and output accumulator, as llama.cpp's flash
    /// attention holds them (it casts a float32 KV cache to float16 for it).
    case onlineFloat16
}

/// Causal scaled-dot-product attention over cached keys/values.
public enum Attention {
    /// Query rows per prefill task: bounds the score buffer and balances heads over threads.
    static let queryBlock = 128
    /// Query rows from which `.online` attention uses the blocked form (ggml's GGML_FA_TILE_Q).
    public static let onlineRowLimit = 64

    /// Attends `queries` (T × numHeads·headDim, the T newest positions) to the keys/values in `segments`
    /// (all positions so far, the T new ones last), writing T × numHeads·headDim into `output`.
    /// Query t sees keys 0 ... (total − T + t).
    ///
    /// One query row takes a dot/axpy path per head; more rows use SGEMM for QKᵀ and PV.
    public static func causal(queries: Matrix, segments: [KVSegment], shape: AttentionShape, output: Matrix) {
        let total = segments.reduce(0) { $0 + $1.count }
        let width = shape.numHeads * shape.headDim
        precondition(queries.cols == width && output.cols == width && output.rows == queries.rows, "attention shape mismatch")
        precondition(total >= queries.rows, "cache holds fewer positions than queries")
        if shape.softmax != .blocked && queries.rows < onlineRowLimit {
            let past = total - queries.rows
            Parallel.forEach(shape.numHeads * queries.rows) { task in
                let row = task / shape.numHeads
                onlineRow(task % shape.numHeads, query: queries.row(row), visible: past + row + 1, segments: segments,
                          shape: shape, output: output.row(row))
            }
            return
        }
        if queries.rows == 1 {
            Parallel.forEach(shape.numHeads) { head in
                decodeHead(head, query: queries.data, segments: segments, total: total, shape: shape, output: output.data)
            }
            return
        }
        let blocks = (queries.rows + queryBlock - 1) / queryBlock
        Parallel.forEach(shape.numHeads * blocks) { task in
            let head = task / blocks
            let block = task % blocks
            let first = block * queryBlock
            prefillBlock(head: head, queryRows: first ..< min(queries.rows, first + queryBlock),
                         queries: queries, segments: segments, total: total, shape: shape, output: output)
        }
    }

    /// One head of one query row over its first `visible` keys, with an online softmax.
    private static func onlineRow(_ head: Int, query: UnsafePointer<Float>, visible: Int, segments: [KVSegment],
                                  shape: AttentionShape, output: UnsafeMutablePointer<Float>) {
        let d = shape.headDim
        let kvOffset = head / (shape.numHeads / shape.numKVHeads) * d
        let out = output + head * d
        out.initialize(repeating: 0, count: d)
        var maximum = -Float.infinity, sum: Float = 0
        var position = 0
        for segment in segments where position < visible {
            let n = min(segment.count, visible - position)
            ck_attention_online(query + head * d, segment.keys + kvOffset, segment.values + kvOffset, n, segment.rowStride, d,
                                shape.scale, &maximum, &sum, out, shape.softmax == .onlineFloat16 ? 1 : 0)
            position += n
        }
        ck_scale(out, sum == 0 ? 0 : 1 / sum, d)
    }

    private static func decodeHead(_ head: Int, query: UnsafePointer<Float>, segments: [KVSegment], total: Int,
                                   shape: AttentionShape, output: UnsafeMutablePointer<Float>) {
        let d = shape.headDim
        let kvOffset = head / (shape.numHeads / shape.numKVHeads) * d
        let q = query + head * d
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: total)
        defer { scores.deallocate() }
        var position = 0
        for segment in segments {
            for j in 0 ..< segment.count {
                scores[position + j] = ck_dot(q, segment.keys + j * segment.rowStride + kvOffset, d) * shape.scale
            }
            position += segment.count
        }
        ck_softmax(scores, total)
        let out = output + head * d
        out.initialize(repeating: 0, count: d)
        position = 0
        for segment in segments {
            for j in 0 ..< segment.count {
                ck_axpy(out, scores[position + j], segment.values + j * segment.rowStride + kvOffset, d)
            }
            position += segment.count
        }
    }

    private static func prefillBlock(head: Int, queryRows: Range<Int>, queries: Matrix, segments: [KVSegment],
                                     total: Int, shape: AttentionShape, output: Matrix) {
        let d = shape.headDim
        let width = queries.cols
        let kvOffset = head / (shape.numHeads / shape.numKVHeads) * d
        let past = total - queries.rows
        // Keys visible to the last row of this block; earlier rows mask the tail.
        let keyCount = past + queryRows.upperBound
        let m = queryRows.count
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: m * keyCount)
        defer { scores.deallocate() }
        let q = queries.row(queryRows.lowerBound) + head * d
        var column = 0
        for segment in segments where column < keyCount {
            let n = min(segment.count, keyCount - column)
            if n == 0 { continue }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(d),
                        shape.scale, q, Int32(width), segment.keys + kvOffset, Int32(segment.rowStride),
                        0, scores + column, Int32(keyCount))
            column += n
        }
        for i in 0 ..< m {
            let row = scores + i * keyCount
            let visible = past + queryRows.lowerBound + i + 1
            ck_softmax(row, visible)
            (row + visible).initialize(repeating: 0, count: keyCount - visible)
        }
        let out = output.row(queryRows.lowerBound) + head * d
        column = 0
        for segment in segments where column < keyCount {
            let n = min(segment.count, keyCount - column)
            if n == 0 { continue }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(d), Int32(n),
                        1, scores + column, Int32(keyCount), segment.values + kvOffset, Int32(segment.rowStride),
                        column == 0 ? 0 : 1, out, Int32(width))
            column += n
        }
    }
}
