import CKernels
import COpenBLAS

/// Rows of one attention operand inside a larger matrix: row i, head h starts at
/// `base + i * rowStride + h * headDim` (e.g. the q, k or v third of a fused qkv projection).
public struct AttentionOperand: @unchecked Sendable {
    public let base: UnsafePointer<Float>
    public let rowStride: Int

    public init(base: UnsafePointer<Float>, rowStride: Int) {
        self.base = base
        self.rowStride = rowStride
    }
}

extension Attention {
    /// Full (non-causal) multi-head attention, as vision encoders use: each of the `queryCount`
    /// queries sees all `keyCount` keys (self-attention when they are the same rows; a pooling
    /// probe when there is one query). Writes queryCount × numHeads·headDim into `output`.
    /// Heads and blocks of queries run in parallel; each uses SGEMM for QKᵀ and PV.
    ///
    /// ```swift
    /// // qkv: T × 3D from one fused projection
    /// Attention.bidirectional(queries: .init(base: qkv.data, rowStride: 3 * d), queryCount: qkv.rows,
    ///                         keys: .init(base: qkv.data + d, rowStride: 3 * d),
    ///                         values: .init(base: qkv.data + 2 * d, rowStride: 3 * d),
    ///                         keyCount: qkv.rows, shape: shape, output: out)
    /// ```
    public static func bidirectional(queries: AttentionOperand, queryCount: Int, keys: AttentionOperand, values: AttentionOperand,
                                     keyCount count: Int, shape: AttentionShape, output: Matrix) {
        precondition(output.rows == queryCount && output.cols == shape.numHeads * shape.headDim, "attention shape mismatch")
        guard queryCount > 0, count > 0 else { return }
        let d = shape.headDim
        let group = shape.numHeads / shape.numKVHeads
        let blocks = (queryCount + queryBlock - 1) / queryBlock
        Parallel.forEach(shape.numHeads * blocks) { task in
            let head = task / blocks
            let first = task % blocks * queryBlock
            let m = min(queryBlock, queryCount - first)
            let kvOffset = head / group * d
            ScratchBuffers.with(count: m * count) { scores in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(count), Int32(d),
                            shape.scale, queries.base + first * queries.rowStride + head * d, Int32(queries.rowStride),
                            keys.base + kvOffset, Int32(keys.rowStride), 0, scores, Int32(count))
                for i in 0 ..< m { ck_softmax(scores + i * count, count) }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(d), Int32(count),
                            1, scores, Int32(count), values.base + kvOffset, Int32(values.rowStride),
                            0, output.row(first) + head * d, Int32(output.cols))
            }
        }
    }
}
