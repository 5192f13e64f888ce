import Tensor

/// Encoded image rows placed in a prompt: row i replaces the embedding of the token at prompt
/// position `offset + i`.
public struct ImageFeatures: Sendable {
    /// image tokens × hidden size (the output of `VisionLanguageModel.encodeImage`).
    public let features: Matrix
    public let offset: Int

    public init(features: Matrix, offset: Int) {
        self.features = features
        self.offset = offset
    }

    var positions: Range<Int> { offset ..< offset + features.rows }
}

/// A Llama-family decoder-only model (embedding, pre-norm decoder layers, final RMSNorm, LM head).
/// Architectures differ only in which projections have biases; see `Llama` and `Qwen2`. The same
/// decoder is the language model of a `VisionLanguageModel`, where image features replace the
/// embeddings of placeholder tokens and Qwen2-VL rotates by M-RoPE positions.
public final class DecoderLanguageModel: CausalLanguageModel {
    public let config: LanguageModelConfig
    private let embedding: WeightMatrix
    private let layers: [DecoderLayer]
    private let finalNorm: [Float]
    private let lmHead: WeightMatrix
    private let rope: RotaryEmbedding
    private let shape: AttentionShape
    /// Qwen2-VL's `mrope_section`: how many rotary frequencies follow the temporal, height and width positions.
    let mropeSection: [Int]?

    /// `prefix` holds the decoder's tensors ("model.", or "model.language_model." in a vision-language model).
    init(config c: LanguageModelConfig, weights: WeightStore, biases: ProjectionBiases, prefix: String = "model.",
         lmHead lmHeadName: String = "lm_head.weight", mropeSection: [Int]? = nil) throws(ModelLoadingError) {
        config = c
        self.mropeSection = mropeSection
        embedding = try weights.matrix(prefix + "embed_tokens.weight", rows: c.vocabSize, cols: c.hiddenSize)
        var layers: [DecoderLayer] = []
        for index in 0 ..< c.numLayers {
            layers.append(try DecoderLayer(weights, prefix: prefix, index: index, config: c, biases: biases))
        }
        self.layers = layers
        finalNorm = try weights.vector(prefix + "norm.weight", count: c.hiddenSize)
        // Tied checkpoints may still store lm_head.weight; the embedding is authoritative then, as in transformers.
        lmHead = c.tieWordEmbeddings ? embedding : try weights.matrix(lmHeadName, rows: c.vocabSize, cols: c.hiddenSize)
        rope = RotaryEmbedding(config: c)
        shape = AttentionShape(numHeads: c.numHeads, numKVHeads: c.numKVHeads, headDim: c.headDim)
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(capacity: capacity, numLayers: config.numLayers, rowWidth: config.numKVHeads * config.headDim)
    }

    public func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [[Float]] {
        try forward(tokens, images: [], mrope: nil, cache: cache, allLogits: allLogits)
    }

    /// `forward(_:cache:allLogits:)` for a multimodal prompt: the rows of `images` whose prompt
    /// positions fall in this call's positions (cache.count ..< cache.count + tokens.count) replace
    /// those tokens' embeddings, and `mrope` (Qwen2-VL) gives the rotary positions of prompt and later tokens.
    ///
    /// ```swift
    /// let prompt = try vlm.expandPrompt(ids, images: [pixels])
    /// let features = try vlm.encodeImage(pixels)
    /// let logits = try vlm.languageModel.forward(prompt.tokenIds, images: prompt.place([features]),
    ///                                            mrope: prompt.mrope, cache: cache, allLogits: false)
    /// ```
    public func forward(_ tokens: [Int], images: [ImageFeatures], mrope: MRoPEPositions?, cache: KVCache, allLogits: Bool) throws -> [[Float]] {
        try validate(tokens, cache: cache)
        let slice = SequenceSlice(rows: 0 ..< tokens.count, start: cache.count, images: images, mrope: mrope)
        try validate(slice)
        let rows = allLogits ? Array(0 ..< tokens.count) : [tokens.count - 1]
        let logits = run(tokens, sequences: [slice], kv: cache, logitRows: rows)
        cache.advance(by: tokens.count)
        return logits
    }

    public func forward(batch: [BatchSequence], cache: PagedKVCache) throws -> [[Float]] {
        try validate(batch, cache: cache)
        var tokens: [Int] = [], slices: [SequenceSlice] = [], logitRows: [Int] = []
        for sequence in batch {
            slices.append(SequenceSlice(rows: tokens.count ..< tokens.count + sequence.tokens.count, start: sequence.start,
                                        images: sequence.images, mrope: sequence.mrope))
            tokens += sequence.tokens
            if sequence.allLogits {
                logitRows += (tokens.count - sequence.tokens.count) ..< tokens.count
            } else if sequence.wantsLogits {
                logitRows.append(tokens.count - 1)
            }
        }
        return run(tokens, sequences: slices, kv: cache.view(blockTables: batch.map(\.blockTable)), logitRows: logitRows)
    }

    /// Embeds `tokens`, runs every layer over all of them, and returns the logits of `logitRows`.
    private func run(_ tokens: [Int], sequences: [SequenceSlice], kv: some KVStore, logitRows: [Int]) -> [[Float]] {
        let hidden = Matrix(rows: tokens.count, cols: config.hiddenSize)
        for (row, token) in tokens.enumerated() { embedding.copyRow(token, to: hidden.row(row)) }
        for s in sequences { place(s, in: hidden) }
        let tables = ropeTables(sequences, rows: tokens.count)
        let workspace = DecoderWorkspace(tokens: tokens.count, config: config)
        for (index, layer) in layers.enumerated() {
            layer(hidden, layer: index, sequences: sequences, kv: kv, rope: tables, config: config, shape: shape,
                  activation: config.hiddenActivation, workspace: workspace)
        }
        return logits(hidden, rows: logitRows)
    }

    /// Copies the image feature rows that fall in the slice's positions over their token embeddings.
    private func place(_ s: SequenceSlice, in hidden: Matrix) {
        let positions = s.start ..< s.start + s.rows.count
        for image in s.images {
            let overlap = image.positions.clamped(to: positions)
            guard !overlap.isEmpty else { continue }
            hidden.row(s.rows.lowerBound + overlap.lowerBound - s.start)
                .update(from: image.features.row(overlap.lowerBound - image.offset), count: overlap.count * hidden.cols)
        }
    }

    /// The rotary tables of one sequence's positions: M-RoPE when it has 3-D positions, else 1-D.
    private func ropeTables(_ s: SequenceSlice) -> (cos: Matrix, sin: Matrix) {
        let positions = s.start ..< s.start + s.rows.count
        if let mrope = s.mrope, let mropeSection { return rope.tables(for: positions, mrope: mrope, section: mropeSection) }
        return rope.tables(for: positions)
    }

    /// cos/sin rows for every batch row, each sequence from its own positions.
    private func ropeTables(_ sequences: [SequenceSlice], rows: Int) -> (cos: Matrix, sin: Matrix) {
        if sequences.count == 1 { return ropeTables(sequences[0]) }
        let half = config.headDim / 2
        let cos = Matrix(rows: rows, cols: half), sin = Matrix(rows: rows, cols: half)
        for s in sequences {
            let t = ropeTables(s)
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
            try validate(SequenceSlice(rows: 0 ..< sequence.tokens.count, start: sequence.start, images: sequence.images, mrope: sequence.mrope))
            let end = sequence.start + sequence.tokens.count
            guard sequence.blockTable.count * cache.blockSize >= end,
                  sequence.blockTable.allSatisfy({ $0 >= 0 && $0 < cache.blockCount }) else {
                throw .cacheFull(required: end, capacity: sequence.blockTable.count * cache.blockSize)
            }
        }
    }

    /// Image features must be hiddenSize wide at non-negative offsets; M-RoPE positions need a model that uses them.
    private func validate(_ s: SequenceSlice) throws(ForwardError) {
        for image in s.images {
            guard image.features.cols == config.hiddenSize, image.offset >= 0 else {
                throw .invalidMultimodalInput(detail: "image features are \(image.features.rows) × \(image.features.cols) at offset \(image.offset); "
                    + "the model needs \(config.hiddenSize) columns at a non-negative offset")
            }
        }
        if s.mrope != nil, mropeSection == nil {
            throw .invalidMultimodalInput(detail: "M-RoPE positions were given to a model without mrope_section")
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
