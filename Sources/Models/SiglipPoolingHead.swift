import Tensor

/// SigLIP's multi-head attention pooling (`SiglipMultiheadAttentionPoolingHead`): a learned probe
/// attends over the normalised patches (`nn.MultiheadAttention` with a packed in-projection), then
/// a residual MLP behind a LayerNorm.
struct SiglipPoolingHead: Sendable {
    let probe: Matrix
    let q, k, v, out, fc1, fc2: Linear
    let norm: LayerNormWeights
    let activation: VisionActivation
    let shape: AttentionShape

    init(_ weights: WeightStore, prefix p: String, config c: VisionTowerConfig) throws(ModelLoadingError) {
        let d = c.hiddenSize
        probe = Matrix(rows: 1, cols: d, values: try weights.values(p + "probe", shape: [1, 1, d]))
        let bias = try weights.vector(p + "attention.in_proj_bias", count: 3 * d)
        func band(_ i: Int) throws(ModelLoadingError) -> Linear {
            let rows = i * d ..< (i + 1) * d
            return Linear(weight: try weights.flattenedMatrix(p + "attention.in_proj_weight", shape: [3 * d, d], rows: rows), bias: Array(bias[rows]))
        }
        (q, k, v) = (try band(0), try band(1), try band(2))
        out = try Linear(weights, p + "attention.out_proj", out: d, in: d, bias: true)
        norm = try LayerNormWeights(weights, p + "layernorm", count: d, eps: c.layerNormEps)
        fc1 = try Linear(weights, p + "mlp.fc1", out: c.intermediateSize, in: d, bias: true)
        fc2 = try Linear(weights, p + "mlp.fc2", out: d, in: c.intermediateSize, bias: true)
        activation = c.activation
        shape = AttentionShape(numHeads: c.numHeads, numKVHeads: c.numHeads, headDim: d / c.numHeads)
    }

    /// The pooled row (1 × hidden) of `hidden` (patches × hidden, after `post_layernorm`).
    func callAsFunction(_ hidden: Matrix) -> Matrix {
        let d = hidden.cols
        let query = Matrix(rows: 1, cols: d), keys = Matrix(rows: hidden.rows, cols: d), values = Matrix(rows: hidden.rows, cols: d)
        q.apply(probe, into: query)
        Linear.apply([(k, hidden, keys), (v, hidden, values)])
        let attention = Matrix(rows: 1, cols: d)
        Attention.bidirectional(queries: AttentionOperand(base: query.data, rowStride: d), queryCount: 1,
                                keys: AttentionOperand(base: keys.data, rowStride: d), values: AttentionOperand(base: values.data, rowStride: d),
                                keyCount: hidden.rows, shape: shape, output: attention)
        let pooled = Matrix(rows: 1, cols: d)
        out.apply(attention, into: pooled)
        let normed = Matrix(rows: 1, cols: d), mlp = Matrix(rows: 1, cols: fc1.weight.rows)
        norm.apply(pooled, into: normed)
        fc1.apply(normed, into: mlp)
        activation.apply(mlp)
        fc2.apply(mlp, into: pooled, accumulate: true)
        return pooled
    }
}
