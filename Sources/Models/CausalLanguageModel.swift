/// A decoder-only language model that runs token ids through a KV cache.
///
/// ```swift
/// let model = try ModelLoader.load(directory: url)
/// let cache = model.makeCache(capacity: 256)
/// var logits = try model.forward(promptIds, cache: cache, allLogits: false)   // prefill
/// logits = try model.forward([nextId], cache: cache, allLogits: false)        // one decode step
/// ```
public protocol CausalLanguageModel: AnyObject, Sendable {
    var config: LanguageModelConfig { get }
    /// An empty cache for up to `capacity` positions.
    func makeCache(capacity: Int) -> KVCache
    /// Runs `tokens` at positions cache.count ..< cache.count+tokens.count, appends their K/V to `cache`,
    /// and returns float32 logits: one row (vocabSize floats) per token if `allLogits`, else only the last token's row.
    /// Throws `ForwardError` for empty input, out-of-range ids, or a cache that is full or of another model.
    func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [[Float]]
    /// Runs several sequences in one pass over the paged cache (continuous batching): their linear
    /// layers as one matrix product, attention per sequence over its block table. Returns one logits
    /// row per sequence with `wantsLogits`, in batch order.
    func forward(batch: [BatchSequence], cache: PagedKVCache) throws -> [[Float]]
}
