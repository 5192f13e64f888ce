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
///
/// A pipeline stage holds one ``DecoderSlice`` of it (`slice(_:)`): the embedding only on the
/// first stage, the final norm and LM head only on the last, and its own layers' KV.
public final class DecoderLanguageModel: CausalLanguageModel {
    public let config: LanguageModelConfig
    /// The placement units this model runs: all of them unless it is a pipeline stage.
    public let units: DecoderSlice
    private let embedding: WeightMatrix?
    private let layers: [DecoderLayer]
    private let finalNorm: [Float]?
    private let lmHead: WeightMatrix?
    private let rope: RotaryEmbedding
    private let shape: AttentionShape
    /// Qwen2-VL's `mrope_section`: how many rotary frequencies follow the temporal, height and width positions.
    let mropeSection: [Int]?

    /// `prefix` holds the decoder's tensors ("model.", or "model.language_model." in a vision-language model).
    init(config c: LanguageModelConfig, weights: WeightStore, biases: ProjectionBiases, prefix: String = "model.",
         lmHead lmHeadName: String = "lm_head.weight", mropeSection: [Int]? = nil) throws(ModelLoadingError) {
        config = c
        units = DecoderSlice.whole(numLayers: c.numLayers)
        self.mropeSection = mropeSection
        let embedding = try weights.matrix(prefix + "embed_tokens.weight", rows: c.vocabSize, cols: c.hiddenSize)
        var layers: [DecoderLayer] = []
        for index in 0 ..< c.numLayers {
            layers.append(try DecoderLayer(weights, prefix: prefix, index: index, config: c, biases: biases))
        }
        self.layers = layers
        finalNorm = try weights.vector(prefix + "norm.weight", count: c.hiddenSize)
        // Tied checkpoints may still store lm_head.weight; the embedding is authoritative then, as in transformers.
        lmHead = c.tieWordEmbeddings ? embedding : try weights.matrix(lmHeadName, rows: c.vocabSize, cols: c.hiddenSize)
        self.embedding = embedding
        rope = RotaryEmbedding(config: c)
        shape = AttentionShape(numHeads: c.numHeads, numKVHeads: c.numKVHeads, headDim: c.headDim,
                               softmax: c.operationOrder != .llamaCpp ? .blocked : c.float16Attention ? .onlineFloat16 : .online)
    }

    private init(_ whole: DecoderLanguageModel, units: DecoderSlice) {
        config = whole.config
        self.units = units
        mropeSection = whole.mropeSection
        rope = whole.rope
        shape = whole.shape
        let n = config.numLayers
        embedding = units.hasEmbedding ? whole.embedding : nil
        layers = Array(whole.layers[units.layers(numLayers: n)])
        finalNorm = units.hasHead(numLayers: n) ? whole.finalNorm : nil
        lmHead = units.hasHead(numLayers: n) ? whole.lmHead : nil
    }

    /// The stage of a layer-split model that runs `units`: only their weights stay referenced, and
    /// its KV cache holds only its layers (``kvLayers``).
    public func slice(_ units: DecoderSlice) throws(ForwardError) -> DecoderLanguageModel {
        let all = DecoderSlice.whole(numLayers: config.numLayers).units
        guard !units.units.isEmpty, units.units.clamped(to: all) == units.units else {
            throw .invalidStage(detail: "units \(units) are not a non-empty part of \(all)")
        }
        return DecoderLanguageModel(self, units: units)
    }

    /// Layers whose KV this model keeps.
    public var kvLayers: Int { layers.count }

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
        guard case let .logits(logits) = try forward(batch: batch, hidden: nil, cache: cache) else {
            throw ForwardError.invalidStage(detail: "units \(units) end before the LM head; hand the hidden states to the next stage")
        }
        return logits
    }

    /// What one pipeline stage hands on: the hidden states of every batch row for the next stage,
    /// or, from the last stage, the logits `forward(batch:cache:)` returns.
    public enum StageOutput {
        case hidden(Matrix)
        case logits([[Float]])
    }

    /// Runs this model's units over a batch: from the token embeddings when it holds the embedding
    /// (`hidden` nil), else from `hidden`, the previous stage's output (one row per batch token).
    public func forward(batch: [BatchSequence], hidden: Matrix?, cache: PagedKVCache) throws -> StageOutput {
        try validate(batch, cache: cache)
        let rows = batch.reduce(0) { $0 + $1.tokens.count }
        guard units.hasEmbedding == (hidden == nil), hidden.map({ $0.rows == rows && $0.cols == config.hiddenSize }) ?? true else {
            throw ForwardError.invalidStage(detail: "units \(units) take \(units.hasEmbedding ? "token ids" : "\(rows) × \(config.hiddenSize) hidden states"), "
                + "got \(hidden.map { "\($0.rows) × \($0.cols) hidden states" } ?? "token ids")")
        }
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
        let kv = cache.view(blockTables: batch.map(\.blockTable))
        let output = run(tokens, sequences: slices, kv: kv, hidden: hidden ?? embed(tokens, slices))
        return lmHead == nil ? .hidden(output) : .logits(logits(output, rows: logitRows))
    }

    private func run(_ tokens: [Int], sequences: [SequenceSlice], kv: some KVStore, logitRows: [Int]) -> [[Float]] {
        logits(run(tokens, sequences: sequences, kv: kv, hidden: embed(tokens, sequences)), rows: logitRows)
    }

    /// The token embeddings with image features placed over their placeholders.
    private func embed(_ tokens: [Int], _ sequences: [SequenceSlice]) -> Matrix {
        let hidden = Matrix(rows: tokens.count, cols: config.hiddenSize)
        guard let embedding else { preconditionFailure("a stage without the embedding was given token ids") }
        for (row, token) in tokens.enumerated() { embedding.copyRow(token, to: hidden.row(row)) }
        for s in sequences { place(s, in: hidden) }
        return hidden
    }

    /// Runs this model's layers over `hidden` (updated in place); layer i keeps its KV in `kv`'s layer i.
    private func run(_ tokens: [Int], sequences: [SequenceSlice], kv: some KVStore, hidden: Matrix) -> Matrix {
        let tables = ropeTables(sequences, rows: tokens.count)
        let workspace = DecoderWorkspace(tokens: tokens.count, config: config)
        for (index, layer) in layers.enumerated() {
            layer(hidden, layer: index, sequences: sequences, kv: kv, rope: tables, config: config, shape: shape,
                  activation: config.hiddenActivation, workspace: workspace)
        }
        return hidden
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
        guard cache.numLayers == kvLayers, cache.rowWidth == width else {
            throw .incompatibleCache(detail: "cache has \(cache.numLayers) layers × \(cache.rowWidth) floats, model needs \(kvLayers) × \(width)")
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
        guard units == .whole(numLayers: config.numLayers) else { throw .invalidStage(detail: "a contiguous cache needs the whole model, not units \(units)") }
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
        guard !rows.isEmpty, let finalNorm, let lmHead else { return [] }
        let selected = Matrix(rows: rows.count, cols: hidden.cols)
        for (i, row) in rows.enumerated() { selected.row(i).update(from: hidden.row(row), count: hidden.cols) }
        Kernels.rmsNorm(selected, weight: finalNorm, eps: config.rmsNormEps, into: selected)
        let output = Matrix(rows: selected.rows, cols: config.vocabSize)
        lmHead.multiply(selected, into: output)
        return (0 ..< output.rows).map { output.rowArray($0) }
    }
}
