import Tensor

/// Which projections of a pre-norm decoder layer carry a bias (the only difference between
/// the Llama-family architectures supported here).
struct ProjectionBiases: Sendable {
    var qkv: Bool
    var output: Bool
    var mlp: Bool
}

/// A linear layer: weight (out × in) and optional bias.
struct Linear: Sendable {
    let weight: WeightMatrix
    let bias: [Float]?

    init(_ weights: WeightStore, _ prefix: String, out: Int, in inputs: Int, bias hasBias: Bool) throws(ModelLoadingError) {
        weight = try weights.matrix(prefix + ".weight", rows: out, cols: inputs)
        bias = hasBias ? try weights.vector(prefix + ".bias", count: out) : nil
    }

    /// y = x·Wᵀ + b, or y += x·Wᵀ + b when `accumulate`.
    func apply(_ x: Matrix, into y: Matrix, accumulate: Bool = false) {
        weight.multiply(x, into: y, accumulate: accumulate)
        if let bias { Kernels.addBias(y, bias) }
    }

    /// Several layers on their own inputs and outputs, as one grouped product.
    static func apply(_ layers: [(Linear, input: Matrix, output: Matrix)]) {
        WeightMatrix.multiply(layers.map { ($0.0.weight, $0.input, $0.output) })
        for (layer, _, output) in layers {
            if let bias = layer.bias { Kernels.addBias(output, bias) }
        }
    }
}

/// One Llama-style decoder layer: RMSNorm → attention (RoPE, GQA) → residual → RMSNorm → gated MLP → residual.
struct DecoderLayer: Sendable {
    let inputNorm: [Float]
    let postAttentionNorm: [Float]
    let q: Linear, k: Linear, v: Linear, o: Linear
    let gate: Linear, up: Linear, down: Linear

    /// `prefix` holds the decoder's tensors: "model." or, inside a vision-language model, "model.language_model.".
    init(_ weights: WeightStore, prefix: String, index: Int, config c: LanguageModelConfig, biases: ProjectionBiases) throws(ModelLoadingError) {
        let p = prefix + "layers.\(index)."
        let qWidth = c.numHeads * c.headDim
        let kvWidth = c.numKVHeads * c.headDim
        inputNorm = try weights.vector(p + "input_layernorm.weight", count: c.hiddenSize)
        postAttentionNorm = try weights.vector(p + "post_attention_layernorm.weight", count: c.hiddenSize)
        q = try Linear(weights, p + "self_attn.q_proj", out: qWidth, in: c.hiddenSize, bias: biases.qkv)
        k = try Linear(weights, p + "self_attn.k_proj", out: kvWidth, in: c.hiddenSize, bias: biases.qkv)
        v = try Linear(weights, p + "self_attn.v_proj", out: kvWidth, in: c.hiddenSize, bias: biases.qkv)
        o = try Linear(weights, p + "self_attn.o_proj", out: c.hiddenSize, in: qWidth, bias: biases.output)
        gate = try Linear(weights, p + "mlp.gate_proj", out: c.intermediateSize, in: c.hiddenSize, bias: biases.mlp)
        up = try Linear(weights, p + "mlp.up_proj", out: c.intermediateSize, in: c.hiddenSize, bias: biases.mlp)
        down = try Linear(weights, p + "mlp.down_proj", out: c.hiddenSize, in: c.intermediateSize, bias: biases.mlp)
    }
}

/// Activations reused across the layers of one forward pass.
struct DecoderWorkspace {
    let normed, queries, keys, values, attention, gate, up: Matrix

    init(tokens t: Int, config c: LanguageModelConfig) {
        normed = Matrix(rows: t, cols: c.hiddenSize)
        queries = Matrix(rows: t, cols: c.numHeads * c.headDim)
        keys = Matrix(rows: t, cols: c.numKVHeads * c.headDim)
        values = Matrix(rows: t, cols: c.numKVHeads * c.headDim)
        attention = Matrix(rows: t, cols: c.numHeads * c.headDim)
        gate = Matrix(rows: t, cols: c.intermediateSize)
        up = Matrix(rows: t, cols: c.intermediateSize)
    }
}

extension DecoderLayer {
    /// Runs the layer on `hidden` (T × hiddenSize, updated in place): the rows of every sequence in
    /// `sequences`, each attending to its own cached positions in `kv`. `rope` has one row per row of `hidden`.
    func callAsFunction(_ hidden: Matrix, layer: Int, sequences: [SequenceSlice], kv: some KVStore, rope: (cos: Matrix, sin: Matrix),
                        config c: LanguageModelConfig, shape: AttentionShape, activation: HiddenActivation,
                        workspace w: DecoderWorkspace) {
        Kernels.rmsNorm(hidden, weight: inputNorm, eps: c.rmsNormEps, into: w.normed)
        Linear.apply([(q, w.normed, w.queries), (k, w.normed, w.keys), (v, w.normed, w.values)])
        let fused = c.operationOrder == .llamaCpp
        Kernels.applyRoPE(w.queries, heads: c.numHeads, headDim: c.headDim, cos: rope.cos, sin: rope.sin, fused: fused, pairs: c.rotaryPairs)
        Kernels.applyRoPE(w.keys, heads: c.numKVHeads, headDim: c.headDim, cos: rope.cos, sin: rope.sin, fused: fused, pairs: c.rotaryPairs)
        for (index, s) in sequences.enumerated() {
            kv.store(layer: layer, sequence: index, at: s.start, keys: w.keys.row(s.rows.lowerBound),
                     values: w.values.row(s.rows.lowerBound), count: s.rows.count)
            let segments = kv.segments(layer: layer, sequence: index, count: s.start + s.rows.count)
            if sequences.count == 1 {
                Attention.causal(queries: w.queries, segments: segments, shape: shape, output: w.attention)
            } else {
                // Attention works on whole matrices: give it this sequence's rows.
                let queries = Matrix(rows: s.rows.count, cols: w.queries.cols)
                queries.data.update(from: w.queries.row(s.rows.lowerBound), count: queries.count)
                let output = Matrix(rows: s.rows.count, cols: w.attention.cols)
                Attention.causal(queries: queries, segments: segments, shape: shape, output: output)
                w.attention.row(s.rows.lowerBound).update(from: output.data, count: output.count)
            }
        }
        o.apply(w.attention, into: hidden, accumulate: true)

        Kernels.rmsNorm(hidden, weight: postAttentionNorm, eps: c.rmsNormEps, into: w.normed)
        Linear.apply([(gate, w.normed, w.gate), (up, w.normed, w.up)])
        switch activation {
        case .silu:
            Kernels.siluMul(gate: w.gate, up: w.up, into: w.gate)
        case .geluErf, .geluTanh:
            Kernels.gelu(w.gate, approximateTanh: activation == .geluTanh)
            Kernels.multiply(w.gate, w.up)
        }
        down.apply(w.gate, into: hidden, accumulate: true)
    }
}
