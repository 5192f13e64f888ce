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
    /// Heads and blocks of queries run in parallel. Heads of up to `tileHeadDim` dimensions run in
    /// AVX-512 register tiles over keys packed once per call (`ck_attention_tile`, flash-attention
    /// style: SGEMM's QKᵀ with k = 40 and PV with n = 40 run far below its large-product rate, and a
    /// query block's scores over thousands of keys do not fit in L2); others, or without AVX-512,
    /// use SGEMM for QKᵀ and PV.
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
        bidirectional(queries: queries, queryCount: queryCount, keys: keys, values: values, keyCount: count, shape: shape,
                      output: output.data, outputStride: output.cols)
    }

    /// The same, writing query i's heads at `output + i * outputStride` (one image's rows of a
    /// batch's matrix).
    public static func bidirectional(queries: AttentionOperand, queryCount: Int, keys: AttentionOperand, values: AttentionOperand,
                                     keyCount count: Int, shape: AttentionShape, output: UnsafeMutablePointer<Float>, outputStride: Int) {
        guard queryCount > 0, count > 0 else { return }
        if shape.headDim <= tileHeadDim && ck_attention_tile_available() != 0 {
            tiled(queries: queries, queryCount: queryCount, keys: keys, values: values, keyCount: count, shape: shape, output: output,
                  outputStride: outputStride)
            return
        }
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
                            0, output + first * outputStride + head * d, Int32(outputStride))
            }
        }
    }

    /// The largest head dimension the register tiles take: measured faster than SGEMM at SD's 40
    /// and 80 (4096 and 1024 tokens), equal at 160.
    static let tileHeadDim = 80

    private static func tiled(queries: AttentionOperand, queryCount: Int, keys: AttentionOperand, values: AttentionOperand,
                              keyCount count: Int, shape: AttentionShape, output: UnsafeMutablePointer<Float>, outputStride: Int) {
        let d = shape.headDim
        let group = shape.numHeads / shape.numKVHeads
        let blocks = (queryCount + queryBlock - 1) / queryBlock
        let packedHead = ck_attention_tile_keys(count, 1, d)
        ScratchBuffers.with(count: packedHead * shape.numKVHeads) { packed in
            ck_attention_pack_keys(keys.base, keys.rowStride, count, shape.numKVHeads, d, packed)
            Parallel.forEach(shape.numHeads * blocks) { task in
                let head = task / blocks
                let first = task % blocks * queryBlock
                let m = min(queryBlock, queryCount - first)
                ScratchBuffers.with(count: ck_attention_tile_scratch(m)) { scratch in
                    ck_attention_tile(queries.base + first * queries.rowStride + head * d, queries.rowStride, m,
                                      packed + head / group * packedHead, values.base + head / group * d, values.rowStride,
                                      count, d, shape.scale, output + first * outputStride + head * d, outputStride, scratch)
                }
            }
        }
    }
}
