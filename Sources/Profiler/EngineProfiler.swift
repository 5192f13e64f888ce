import CoreUtilities
import Engine
import Models
import Simulator

/// Times the forward passes `LLMEngine` runs — `forward(batch:cache:)` over a ``PagedKVCache``,
/// followed by greedy sampling of every row that yields a token — for prefill batches of whole
/// prompts, for decode steps at given batch sizes and context lengths, and for steps mixing both.
///
/// ```swift
/// let profiler = EngineProfiler(model: try ModelLoader.load(directory: url), settings: ProfileSettings())
/// let prefill = try profiler.prefillPoints()
/// let decode = try profiler.decodePoints()
/// let mixed = try profiler.mixedPoints()
/// ```
public struct EngineProfiler {
    public let model: any CausalLanguageModel
    public let settings: ProfileSettings

    public init(model: any CausalLanguageModel, settings: ProfileSettings) {
        self.model = model
        self.settings = settings
    }

    /// Prompt lengths that fit the model's context, sorted.
    var usableLengths: [Int] { Set(settings.promptLengths.filter { $0 < model.config.maxPositionEmbeddings }).sorted() }

    /// Batch sizes the engine can run at once, sorted.
    var usableBatches: [Int] { Set(settings.batchSizes.filter { $0 <= settings.scheduler.maxRunningRequests }).sorted() }

    /// One point per (batch size, prompt length) whose tokens fit one step's budget.
    public func prefillPoints() throws(ProfileError) -> [CostModel.Measurements.Prefill] {
        try settings.validate()
        let shapes = usableLengths.flatMap { length in
            usableBatches.filter { $0 * length <= settings.scheduler.maxBatchedTokens }.map { (batch: $0, length: length) }
        }
        guard shapes.count >= 3 else { throw .tooFewPoints(stage: "prefill", points: shapes.count, needed: 3) }
        let cache = makeCache(sequences: shapes.map(\.batch).max() ?? 1, length: shapes.map(\.length).max() ?? 1)
        var random = SeededRandom(seed: 1)
        var points: [CostModel.Measurements.Prefill] = []
        for shape in shapes {
            let batch = (0 ..< shape.batch).map { i in
                BatchSequence(tokens: randomTokens(shape.length, &random), start: 0, blockTable: cache.table(i), wantsLogits: true)
            }
            let ms = try ProfileStatistics.medianMilliseconds(runs: settings.runs) { () throws(ProfileError) in try step(batch, cache: cache.kv) }
            points.append(.init(sequences: shape.batch, tokens: shape.batch * shape.length,
                                squaredLengths: Double(shape.batch) * Double(shape.length * shape.length), ms: ms))
        }
        return points
    }

    /// One point per (batch size, context length): every sequence holds `context` prompt tokens
    /// (prefilled untimed) and the step computes one new token for each.
    public func decodePoints() throws(ProfileError) -> [CostModel.Measurements.Decode] {
        try settings.validate()
        let contexts = decodeContexts
        let batches = usableBatches
        guard contexts.count * batches.count >= 3 else {
            throw .tooFewPoints(stage: "decode", points: contexts.count * batches.count, needed: 3)
        }
        let widest = batches.max() ?? 1
        let cache = makeCache(sequences: widest, length: (contexts.max() ?? 1) + 1)
        var random = SeededRandom(seed: 2)
        var points: [CostModel.Measurements.Decode] = []
        for context in contexts {
            try fill(widest, to: context, cache: cache, random: &random)
            for batch in batches {
                let sequences = decodeTokens(batch, at: context, cache: cache, random: &random)
                let ms = try ProfileStatistics.medianMilliseconds(runs: settings.runs) { () throws(ProfileError) in try step(sequences, cache: cache.kv) }
                // The step attends over the prompt plus the new token, as the engine's step does.
                points.append(.init(batch: batch, contextTokens: batch * (context + 1), ms: ms))
            }
        }
        return points
    }

    /// Steps as the engine runs them when a prompt arrives while others decode: `batch` sequences
    /// at the middle context length each decode one token, and one new prompt of each length is
    /// prefilled in the same forward pass, within the step's token budget, prefill cap while
    /// decoding and running-request limit.
    public func mixedPoints() throws(ProfileError) -> [CostModel.Measurements.Mixed] {
        try settings.validate()
        let contexts = decodeContexts
        guard !contexts.isEmpty else { return [] }
        let context = contexts[contexts.count / 2]
        let shapes = usableLengths.flatMap { length in
            usableBatches.filter { $0 + 1 <= settings.scheduler.maxRunningRequests && $0 + length <= settings.scheduler.maxBatchedTokens
                && length <= settings.scheduler.maxPrefillTokensWhileDecoding }
                .map { (batch: $0, length: length) }
        }
        let widest = shapes.map(\.batch).max() ?? 0
        // Sequences 0..<widest decode; sequence `widest` is the prompt, rewritten from position 0 each run.
        let cache = makeCache(sequences: widest + 1, length: max(context + 1, usableLengths.max() ?? 1))
        var random = SeededRandom(seed: 3)
        try fill(widest, to: context, cache: cache, random: &random)
        var points: [CostModel.Measurements.Mixed] = []
        for shape in shapes {
            let prompt = BatchSequence(tokens: randomTokens(shape.length, &random), start: 0, blockTable: cache.table(widest), wantsLogits: true)
            let batch = decodeTokens(shape.batch, at: context, cache: cache, random: &random) + [prompt]
            let ms = try ProfileStatistics.medianMilliseconds(runs: settings.runs) { () throws(ProfileError) in try step(batch, cache: cache.kv) }
            points.append(.init(batch: shape.batch, contextTokens: shape.batch * (context + 1), prefillTokens: shape.length,
                                squaredLengths: Double(shape.length * shape.length), ms: ms))
        }
        return points
    }

    /// Context lengths a decode step can run at, sorted.
    private var decodeContexts: [Int] { usableLengths.filter { $0 + 1 < model.config.maxPositionEmbeddings } }

    /// Prefills sequences 0..<count with `context` random tokens each, untimed.
    private func fill(_ count: Int, to context: Int, cache: Cache, random: inout SeededRandom) throws(ProfileError) {
        for i in 0 ..< count {
            try step([BatchSequence(tokens: randomTokens(context, &random), start: 0, blockTable: cache.table(i), wantsLogits: false)], cache: cache.kv)
        }
    }

    /// One new token at position `context` for each of sequences 0..<count.
    private func decodeTokens(_ count: Int, at context: Int, cache: Cache,
                              random: inout SeededRandom) -> [BatchSequence] {
        (0 ..< count).map { i in BatchSequence(tokens: randomTokens(1, &random), start: context, blockTable: cache.table(i), wantsLogits: true) }
    }

    /// A paged KV cache and the block table of each sequence slot.
    private typealias Cache = (kv: PagedKVCache, table: (Int) -> [Int])

    /// A cache with `sequences` disjoint block ranges of `length` positions each.
    private func makeCache(sequences: Int, length: Int) -> Cache {
        let perSequence = (length + settings.blockSize - 1) / settings.blockSize
        let kv = PagedKVCache(config: model.config, blockCount: sequences * perSequence, blockSize: settings.blockSize)
        return (kv, { i in Array(i * perSequence ..< (i + 1) * perSequence) })
    }

    private func randomTokens(_ count: Int, _ random: inout SeededRandom) -> [Int] {
        (0 ..< count).map { _ in Int(random.next() % UInt64(model.config.vocabSize)) }
    }

    /// The engine's step minus its bookkeeping: forward, then a greedy pick per returned row.
    private func step(_ batch: [BatchSequence], cache: PagedKVCache) throws(ProfileError) {
        do {
            for row in try model.forward(batch: batch, cache: cache) { _ = Sampler.argmax(row) }
        } catch {
            throw .modelFailed(String(describing: error))
        }
    }
}
