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
        let slice = SequenceSlice(rows: 0 ..< tokens.count, start: cache.count)
        let rows = allLogits ? Array(0 ..< tokens.count) : [tokens.count - 1]
        let logits = run(tokens, sequences: [slice], kv: cache, logitRows: rows)
        cache.advance(by: tokens.count)
        return logits
    }

    public func forward(batch: [BatchSequence], cache: PagedKVCache) throws -> [[Float]] {
        try validate(batch, cache: cache)
        var tokens: [Int] = [], slices: [SequenceSlice] = [], logitRows: [Int] = []
        for sequence in batch {
            slices.append(SequenceSlice(rows: tokens.count ..< tokens.count + sequence.tokens.count, start: sequence.start))
            tokens += sequence.tokens
            if sequence.wantsLogits { logitRows.append(tokens.count - 1) }
        }
        return run(tokens, sequences: slices, kv: cache.view(blockTables: batch.map(\.blockTable)), logitRows: logitRows)
    }

    /// Embeds `tokens`, runs every layer over all of them, and returns the logits of `logitRows`.
    private func run(_ tokens: [Int], sequences: [SequenceSlice], kv: some KVStore, logitRows: [Int]) -> [[Float]] {
        let hidden = Matrix(rows: tokens.count, cols: config.hiddenSize)
        for (row, token) in tokens.enumerated() { embedding.copyRow(token, to: hidden.row(row)) }
        let tables = ropeTables(sequences, rows: tokens.count)
        let workspace = DecoderWorkspace(tokens: tokens.count, config: config)
        for (index, layer) in layers.enumerated() {
            layer(hidden, layer: index, sequences: sequences, kv: kv, rope: tables, config: config, shape: shape,
                  activation: config.hiddenActivation, workspace: workspace)
        }
        return logits(hidden, rows: logitRows)
    }

    /// cos/sin rows for every batch row, each sequence from its own positions.
    private func ropeTables(_ sequences: [SequenceSlice], rows: Int) -> (cos: Matrix, sin: Matrix) {
        if sequences.count == 1 { return rope.tables(for: sequences[0].start ..< sequences[0].start + rows) }
        let half = config.headDim / 2
        let cos = Matrix(rows: rows, cols: half), sin = Matrix(rows: rows, cols: half)
        for s in sequences {
            let t = rope.tables(for: s.start ..< s.start + s.rows.count)
            cos.row(s.rows.lowerBound).update(from: t.cos.data, count: t.cos.count)
            sin.row(s.rows.lowerBound).update(from: t.sin.data, count: t.sin.count)
        }
        return (cos, sin)
    }

    private func validate(_ tokens: [Int]) throws(ForwardError) {
        guard !tokens.isEmpty else { throw .emptyInput }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw .tokenOutOfRange(token: bad, vocabSize: config.vocabSize)
        }
    }

    private func validate(_ batch: [BatchSequence], cache: PagedKVCache) throws(ForwardError) {
        guard !batch.isEmpty else { throw .emptyInput }
        let width = config.numKVHeads * config.headDim
        guard cache.numLayers == config.numLayers, cache.rowWidth == width else {
            throw .incompatibleCache(detail: "cache has \(cache.numLayers) layers × \(cache.rowWidth) floats, model needs \(config.numLayers) × \(width)")
        }
        for sequence in batch {
            try validate(sequence.tokens)
            let end = sequence.start + sequence.tokens.count
            guard sequence.blockTable.count * cache.blockSize >= end,
                  sequence.blockTable.allSatisfy({ $0 >= 0 && $0 < cache.blockCount }) else {
                throw .cacheFull(required: end, capacity: sequence.blockTable.count * cache.blockSize)
            }
        }
    }

    private func validate(_ tokens: [Int], cache: KVCache) throws(ForwardError) {
        try validate(tokens)
        let width = config.numKVHeads * config.headDim
        guard cache.numLayers == config.numLayers, cache.rowWidth == width else {
            throw .incompatibleCache(detail: "cache has \(cache.numLayers) layers × \(cache.rowWidth) floats, model needs \(config.numLayers) × \(width)")
        }
        guard cache.count + tokens.count <= cache.capacity else {
            throw .cacheFull(required: cache.count + tokens.count, capacity: cache.capacity)
        }
    }

    /// Final norm and LM head over the selected rows.
    private func logits(_ hidden: Matrix, rows: [Int]) -> [[Float]] {
        guard !rows.isEmpty else { return [] }
        let selected = Matrix(rows: rows.count, cols: hidden.cols)
        for (i, row) in rows.enumerated() { selected.row(i).update(from: hidden.row(row), count: hidden.cols) }
        Kernels.rmsNorm(selected, weight: finalNorm, eps: config.rmsNormEps, into: selected)
        let output = Matrix(rows: selected.rows, cols: config.vocabSize)
        lmHead.multiply(selected, into: output)
        return (0 ..< output.rows).map { output.rowArray($0) }
    }
}
