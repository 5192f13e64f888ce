import Foundation
import Tensor

/// LayerNorm scale, shift and epsilon.
struct LayerNormWeights: Sendable {
    let weight: [Float]
    let bias: [Float]
    let eps: Float

    init(_ weights: WeightStore, _ prefix: String, count: Int, eps: Float) throws(ModelLoadingError) {
        weight = try weights.vector(prefix + ".weight", count: count)
        bias = try weights.vector(prefix + ".bias", count: count)
        self.eps = eps
    }

    func apply(_ x: Matrix, into out: Matrix) { Kernels.layerNorm(x, weight: weight, bias: bias, eps: eps, into: out) }
}

extension VisionActivation {
    /// Applies the activation to every element of `x` in place.
    func apply(_ x: Matrix) {
        switch self {
        case .gelu: Kernels.gelu(x, approximateTanh: false)
        case .geluTanh: Kernels.gelu(x, approximateTanh: true)
        case .quickGelu:
            // Rows in parallel: the MLP activations of a vision tower are large.
            let rowsPerTask = max(1, (x.rows + 63) / 64)
            Parallel.forEach((x.rows + rowsPerTask - 1) / rowsPerTask) { task in
                let begin = task * rowsPerTask * x.cols
                let end = min(x.rows, (task + 1) * rowsPerTask) * x.cols
                for i in begin ..< end {
                    let v = x.data[i]
                    x.data[i] = v / (1 + expf(-1.702 * v))
                }
            }
        }
    }
}

/// Weight names of one pre-norm vision transformer layer, which differ between checkpoints.
struct VisionLayerNames {
    let norm1, norm2, out, fc1, fc2: String
    /// Separate q/k/v projections, or one fused projection whose rows are q, then k, then v.
    let qkv: QKV
    enum QKV { case separate(q: String, k: String, v: String), fused(String) }

    /// CLIP and SigLIP (`encoder.layers.N.`).
    static func clip(_ p: String) -> Self {
        Self(norm1: p + "layer_norm1", norm2: p + "layer_norm2", out: p + "self_attn.out_proj", fc1: p + "mlp.fc1", fc2: p + "mlp.fc2",
             qkv: .separate(q: p + "self_attn.q_proj", k: p + "self_attn.k_proj", v: p + "self_attn.v_proj"))
    }

    /// The Qwen2-VL vision blocks (`blocks.N.`).
    static func qwen2VL(_ p: String) -> Self {
        Self(norm1: p + "norm1", norm2: p + "norm2", out: p + "attn.proj", fc1: p + "mlp.fc1", fc2: p + "mlp.fc2", qkv: .fused(p + "attn.qkv"))
    }
}

/// Activations reused across the layers of one image.
struct VisionWorkspace {
    let normed, queries, keys, values, attention, mlp: Matrix

    init(rows: Int, width: Int, intermediate: Int) {
        normed = Matrix(rows: rows, cols: width)
        queries = Matrix(rows: rows, cols: width)
        keys = Matrix(rows: rows, cols: width)
        values = Matrix(rows: rows, cols: width)
        attention = Matrix(rows: rows, cols: width)
        mlp = Matrix(rows: rows, cols: intermediate)
    }
}

/// One pre-norm vision transformer layer: LayerNorm → full self-attention (optionally rotary) →
/// residual → LayerNorm → MLP → residual. Shared by CLIP, SigLIP and the Qwen2-VL vision blocks.
struct VisionEncoderLayer: Sendable {
    let norm1, norm2: LayerNormWeights
    let q, k, v, out, fc1, fc2: Linear

    init(_ weights: WeightStore, names n: VisionLayerNames, width: Int, intermediate: Int, eps: Float) throws(ModelLoadingError) {
        norm1 = try LayerNormWeights(weights, n.norm1, count: width, eps: eps)
        norm2 = try LayerNormWeights(weights, n.norm2, count: width, eps: eps)
        switch n.qkv {
        case let .separate(qName, kName, vName):
            q = try Linear(weights, qName, out: width, in: width, bias: true)
            k = try Linear(weights, kName, out: width, in: width, bias: true)
            v = try Linear(weights, vName, out: width, in: width, bias: true)
        case let .fused(name):
            let bias = try weights.vector(name + ".bias", count: 3 * width)
            func band(_ i: Int) throws(ModelLoadingError) -> Linear {
                let rows = i * width ..< (i + 1) * width
                return Linear(weight: try weights.flattenedMatrix(name + ".weight", shape: [3 * width, width], rows: rows),
                              bias: Array(bias[rows]))
            }
            (q, k, v) = (try band(0), try band(1), try band(2))
        }
        out = try Linear(weights, n.out, out: width, in: width, bias: true)
        fc1 = try Linear(weights, n.fc1, out: intermediate, in: width, bias: true)
        fc2 = try Linear(weights, n.fc2, out: width, in: intermediate, bias: true)
    }

    /// Runs the layer on `hidden` (updated in place). Attention is full within each block of
    /// `segment` rows (the frames of a Qwen2-VL input; the whole image otherwise), or causal over
    /// all rows when `causal` (CLIP's text encoder).
    func callAsFunction(_ hidden: Matrix, shape: AttentionShape, activation: VisionActivation, rope: (cos: Matrix, sin: Matrix)? = nil,
                        segment: Int = .max, causal: Bool = false, workspace w: VisionWorkspace) {
        norm1.apply(hidden, into: w.normed)
        Linear.apply([(q, w.normed, w.queries), (k, w.normed, w.keys), (v, w.normed, w.values)])
        if let rope {
            Kernels.applyRoPE(w.queries, heads: shape.numHeads, headDim: shape.headDim, cos: rope.cos, sin: rope.sin)
            Kernels.applyRoPE(w.keys, heads: shape.numHeads, headDim: shape.headDim, cos: rope.cos, sin: rope.sin)
        }
        let width = hidden.cols
        if causal {
            let segment = KVSegment(keys: w.keys.data, values: w.values.data, count: hidden.rows, rowStride: width)
            Attention.causal(queries: w.queries, segments: [segment], shape: shape, output: w.attention)
        }
        for first in stride(from: 0, to: causal ? 0 : hidden.rows, by: segment) {
            let count = min(segment, hidden.rows - first)
            let output = first == 0 && count == hidden.rows ? w.attention : Matrix(rows: count, cols: width)
            Attention.bidirectional(queries: AttentionOperand(base: w.queries.row(first), rowStride: width), queryCount: count,
                                    keys: AttentionOperand(base: w.keys.row(first), rowStride: width),
                                    values: AttentionOperand(base: w.values.row(first), rowStride: width),
                                    keyCount: count, shape: shape, output: output)
            if output !== w.attention { w.attention.row(first).update(from: output.data, count: output.count) }
        }
        out.apply(w.attention, into: hidden, accumulate: true)

        norm2.apply(hidden, into: w.normed)
        fc1.apply(w.normed, into: w.mlp)
        activation.apply(w.mlp)
        fc2.apply(w.mlp, into: hidden, accumulate: true)
    }
}
