import Tensor

/// A Llama-family decoder-only model (embedding, pre-norm decoder layers, final RMSNorm, LM head).
/// Architectures differ only in which projections have biases; see `Llama` and `Qwen2`.
public final class DecoderLanguageModel: CausalLanguageModel {
    public let config: LanguageModelConfig
    private let embedding: WeightMatrix
    private let layers: [DecoderLayer]
    private let finalNorm: [Float]
    private let lmHead: WeightMatrix
    private let rope: RotaryEmbedding
    private let shape: AttentionShape

    init(config c: LanguageModelConfig, weights: WeightStore, biases: ProjectionBiases) throws(ModelLoadingError) {
        config = c
        embedding = try weights.matrix("model.embed_tokens.weight", rows: c.vocabSize, cols: c.hiddenSize)
        var layers: [DecoderLayer] = []
        for index in 0 ..< c.numLayers {
            layers.append(try DecoderLayer(weights, index: index, config: c, biases: biases))
        }
        self.layers = layers
        finalNorm = try weights.vector("model.norm.weight", count: c.hiddenSize)
        // Tied checkpoints may still store lm_head.weight; the embedding is authoritative then, as in transformers.
        lmHead = c.tieWordEmbeddings ? embedding : try weights.matrix("lm_head.weight", rows: c.vocabSize, cols: c.hiddenSize)
        rope = RotaryEmbedding(config: c)
        shape = AttentionShape(numHeads: c.numHeads, numKVHeads: c.numKVHeads, headDim: c.headDim)
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(capacity: capacity, numLayers: config.numLayers, rowWidth: config.numKVHeads * config.headDim)
    }

    public func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [[Float]] {
        try validate(tokens, cache: cache)
        let past = cache.count
        let hidden = Matrix(rows: tokens.count, cols: config.hiddenSize)
        for (row, token) in tokens.enumerated() { embedding.copyRow(token, to: hidden.row(row)) }
        let tables = rope.tables(for: past ..< past + tokens.count)
        let workspace = DecoderWorkspace(tokens: tokens.count, config: config)
        for (index, layer) in layers.enumerated() {
            layer(hidden, layer: index, past: past, cache: cache, rope: tables, config: config, shape: shape,
                  activation: config.hiddenActivation, workspace: workspace)
        }
        cache.advance(by: tokens.count)
        return logits(hidden, allRows: allLogits)
    }

    private func validate(_ tokens: [Int], cache: KVCache) throws(ForwardError) {
        guard !tokens.isEmpty else { throw .emptyInput }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw .tokenOutOfRange(token: bad, vocabSize: config.vocabSize)
        }
        let width = config.numKVHeads * config.headDim
        guard cache.numLayers == config.numLayers, cache.rowWidth == width else {
            throw .incompatibleCache(detail: "cache has \(cache.numLayers) layers × \(cache.rowWidth) floats, model needs \(config.numLayers) × \(width)")
        }
        guard cache.count + tokens.count <= cache.capacity else {
            throw .cacheFull(required: cache.count + tokens.count, capacity: cache.capacity)
        }
    }

    /// Final norm and LM head over every row, or only the last one.
    private func logits(_ hidden: Matrix, allRows: Bool) -> [[Float]] {
        let first = allRows ? 0 : hidden.rows - 1
        let selected = Matrix(rows: hidden.rows - first, cols: hidden.cols)
        selected.data.update(from: hidden.row(first), count: selected.count)
        Kernels.rmsNorm(selected, weight: finalNorm, eps: config.rmsNormEps, into: selected)
        let output = Matrix(rows: selected.rows, cols: config.vocabSize)
        lmHead.multiply(selected, into: output)
        return (0 ..< output.rows).map { output.rowArray($0) }
    }
}
