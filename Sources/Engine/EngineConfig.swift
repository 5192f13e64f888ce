import Cluster
import Tensor

/// Sizes and limits of an `LLMEngine`, with vLLM's meanings.
public struct EngineConfig: Sendable {
    /// Tokens per KV block.
    public var blockSize = KVBlock.defaultTokens
    /// Bytes of memory for the paged KV cache; decides how many blocks there are.
    public var kvCacheMemoryBytes = 512 << 20
    /// Longest prompt + output; nil uses the model's `max_position_embeddings`.
    public var maxModelLength: Int?
    public var scheduler = SchedulerConfig()
    /// Request ids (and so parked-KV handles) count up from here. A worker process starts at a random
    /// one, so that a handle its dead predecessor in the same slot gave out never names another
    /// request's KV on the relaunched worker.
    public var firstRequestID = 0
    /// Orders the scheduler's waiting queue and decides how many waiting requests join a step
    /// (`PolicyCatalog.batcher`: `fcfs`, `slo-short-first`, `slo-ordered`).
    public var batchPolicy: any BatchPolicy = FCFSBatcher()
    /// The latency objectives requests choose by `InferenceRequest.sloClass`; an unknown class is refused.
    public var sloClasses = SLOClasses.standard
    /// Predicts each request's output tokens for the batch policy (UELLM's profiler); without one
    /// the policy sees `maxTokens`.
    public var outputLengthPredictor: OutputLengthPredictor?
    /// Image feature tokens the encoder cache keeps (vision-language models).
    public var encoderCacheTokens = 16384
    /// Preprocess and encode images at background OS priority on threads that leave the compute pool
    /// to the step loop, so image bursts slow decoding as little as possible on a shared CPU; an
    /// engine that only encodes (an encode worker) turns this off to encode at full speed.
    public var backgroundImageWork = true
    /// Requests waiting for their first step before new ones are refused with `overloaded`.
    public var maxQueuedRequests = 256
    /// Prompt tokens waiting for their first step before new requests are refused.
    public var maxQueuedTokens = 1 << 20
    /// The name the API reports; nil uses the model folder's name.
    public var servedModelName: String?

    /// Reuse cached KV of earlier prompts' prefixes (vLLM's `enable_prefix_caching`); off, every
    /// prompt is computed whole (`tessera profile`, whose shaped steps must compute what they say).
    public var prefixCaching = true
    /// Called on the step loop after every step's sampling (before the requests it finished end)
    /// with what it ran and how long it took; requests it submits join the next step (`tessera profile` shapes its steps this way).
    public var onStep: (@Sendable (EngineStep) -> Void)?

    /// Quantizes a safetensors model's weight matrices at load time (Q8_0 or Q4_0; `--quantize`).
    public var weightQuantization: DType?

    public init() {}
}
