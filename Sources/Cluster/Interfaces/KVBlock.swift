/// The KV cache's unit of allocation, as the policies count it.
public enum KVBlock {
    /// Tokens per KV block unless an engine is configured otherwise (vLLM's default): the live
    /// engine's paged cache and the front end's prompt block hashes use it, and the simulator's
    /// chunked step advances a running prefill by at least one block, as the live scheduler does.
    public static let defaultTokens = 16
}
