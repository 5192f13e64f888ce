import Foundation
import Imaging
import Tokenizers

/// What the HTTP server (or any other front end) sees of an engine: submit a request, read its
/// tokens from a stream. Cancelling the stream's consumer aborts the request and frees its blocks.
///
/// ```swift
/// let stream = try engine.submit(InferenceRequest(prompt: .text("Hello"), parameters: params))
/// for try await event in stream {
///     switch event {
///     case .delta(let d): print(d.text, terminator: "")
///     case .finished(let info): print("\n", info.reason)
///     }
/// }
/// ```
public protocol InferenceEngine: AnyObject, Sendable {
    var servedModel: ServedModel { get }
    var state: EngineState { get }
    /// Throws what `submit` would throw now for any request (queue caps reached, shutting down),
    /// so that a server can refuse before reading, parsing and decoding a request it cannot queue.
    func checkAdmission() throws(EngineError)
    /// The most requests and prompt tokens the engine queues at once: a call that needs more can
    /// never be admitted, however long its client waits, so it is the client's error, not overload.
    var queueCapacity: QueueCapacity { get }
    /// Admits a request or refuses it at once (overload, invalid input, shutting down).
    func submit(_ request: InferenceRequest) throws(EngineError) -> AsyncThrowingStream<InferenceEvent, any Error>
    func statistics() -> EngineStatistics
    /// Why the engine cannot serve every request now although it runs (a stage with no live
    /// worker); nil when it can. `/health` and `/ready` answer 503 with it.
    var unavailableReason: String? { get }
    /// Stops admitting, lets in-flight requests finish for up to `gracePeriod`, then aborts the rest.
    func shutdown(gracePeriod: Duration) async
}

extension InferenceEngine {
    /// A single-process engine serves whenever it is ready.
    public var unavailableReason: String? { nil }
}

/// The model an engine serves, as the API describes it.
public struct ServedModel: Sendable {
    public var name: String
    public var contextLength: Int
    public var tokenizer: Tokenizer
    public var chatTemplate: String?
    /// The text that stands for one image in a rendered prompt (e.g. `<image>`); nil for text-only models.
    public var imagePlaceholder: String?
    public var createdAt: Date

    public init(name: String, contextLength: Int, tokenizer: Tokenizer, chatTemplate: String?, imagePlaceholder: String?, createdAt: Date = Date()) {
        self.name = name
        self.contextLength = contextLength
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.imagePlaceholder = imagePlaceholder
        self.createdAt = createdAt
    }
}

/// Caps on what waits for its first step (`--max-queued-requests`, `--max-queued-tokens`).
public struct QueueCapacity: Sendable, Equatable {
    public var requests: Int
    public var tokens: Int

    public init(requests: Int, tokens: Int) {
        self.requests = requests
        self.tokens = tokens
    }
}

public enum EngineState: Sendable, Equatable {
    case ready
    case draining
    case stopped
}

/// One generation request, after the front end has rendered chat templates and decoded images.
public struct InferenceRequest: Sendable {
    public enum Prompt: Sendable {
        /// Tokenized by the engine with the tokenizer's default special-token handling.
        case text(String)
        case tokens([Int])
    }

    public var prompt: Prompt
    /// Decoded images in prompt order, one per image placeholder. The front end decodes them (off
    /// its event loop) so that a bad image is the client's error before the request is admitted.
    public var images: [RGBImage]
    public var parameters: SamplingParameters
    /// The latency class whose objectives the engine's batch policy schedules by (`slo_class` in
    /// the API); nil is the engine's default class, an unknown name is refused as invalid.
    public var sloClass: String?

    public init(prompt: Prompt, images: [RGBImage] = [], parameters: SamplingParameters, sloClass: String? = nil) {
        self.prompt = prompt
        self.images = images
        self.parameters = parameters
        self.sloClass = sloClass
    }
}

public enum InferenceEvent: Sendable {
    /// Newly generated tokens and the text they completed (stop strings already cut).
    case delta(TokenDelta)
    case finished(FinishInfo)
}

public struct TokenDelta: Sendable, Codable {
    public var tokenIds: [Int]
    public var text: String
    /// One entry per token in `tokenIds` when logprobs were requested.
    public var logprobs: [TokenLogprobs]
    /// On a request's first delta when `promptLogprobs` was asked: one entry per prompt token after the first.
    public var promptLogprobs: [TokenLogprobs]?

    public init(tokenIds: [Int], text: String, logprobs: [TokenLogprobs] = [], promptLogprobs: [TokenLogprobs]? = nil) {
        self.tokenIds = tokenIds
        self.text = text
        self.logprobs = logprobs
        self.promptLogprobs = promptLogprobs
    }
}

/// A generated token's log-probability and the most likely alternatives at its step.
public struct TokenLogprobs: Sendable, Equatable, Codable {
    public var token: TokenLogprob
    public var top: [TokenLogprob]

    public init(token: TokenLogprob, top: [TokenLogprob]) {
        self.token = token
        self.top = top
    }
}

public struct FinishInfo: Sendable, Codable {
    public var reason: FinishReason
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens whose KV came from the prefix cache.
    public var cachedTokens: Int
    public var timings: RequestTimings

    public init(reason: FinishReason, promptTokens: Int, completionTokens: Int, cachedTokens: Int, timings: RequestTimings) {
        self.reason = reason
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
        self.timings = timings
    }
}

/// Seconds since the request arrived at the engine, per phase.
public struct RequestTimings: Sendable, Codable {
    public var queued: Double = 0
    public var firstToken: Double = 0
    public var total: Double = 0
    /// Per image, in prompt order.
    public var images: [ImageStageTimings] = []

    public init() {}
}

/// Where an image's time went inside the engine.
public struct ImageStageTimings: Sendable, Codable {
    public var preprocess: Double = 0
    public var encode: Double = 0
    /// True when the encoder cache already held the image's features.
    public var encoderCacheHit = false

    public init() {}
}

/// A snapshot of an engine's counters and gauges, for `/metrics` (a worker sends its engine's in
/// each load report; the front end sums the fields a fleet shares).
public struct EngineStatistics: Sendable, Hashable, Codable {
    public var runningRequests = 0
    public var waitingRequests = 0
    public var encodingRequests = 0
    public var kvCacheUsage = 0.0
    public var prefixCacheQueriedTokens = 0
    public var prefixCacheHitTokens = 0
    public var encoderCacheQueries = 0
    public var encoderCacheHits = 0
    public var preemptions = 0
    public var promptTokens = 0
    public var generatedTokens = 0
    /// KV moved between disaggregated workers: bytes, transfers, and microseconds the pulls took.
    public var kvTransferBytes = 0
    public var kvTransfers = 0
    public var kvTransferMicroseconds = 0
    /// Dead workers relaunched, by the role they were relaunched in (disaggregated serving).
    public var workerRestarts: [String: Int] = [:]
    /// Requests retried on another worker after theirs was lost.
    public var requestRetries = 0

    public init() {}
}

/// Why an engine refused or failed a request (sent as is from a worker to the front end).
public enum EngineError: Error, CustomStringConvertible, Equatable, Codable {
    /// Too many queued requests or tokens; the client should retry after the given seconds.
    case overloaded(retryAfterSeconds: Int)
    /// The request cannot run on this model (prompt too long, token ids out of range, images on a text model, bad image).
    case invalidRequest(String)
    /// The prompt (with its images expanded) leaves no room for a generated token.
    case contextLengthExceeded(String)
    case shuttingDown
    case internalFailure(String)

    public var description: String {
        switch self {
        case let .overloaded(seconds): "the server is overloaded; retry in \(seconds) s"
        case let .invalidRequest(message), let .contextLengthExceeded(message): message
        case .shuttingDown: "the server is shutting down"
        case let .internalFailure(message): "internal error: \(message)"
        }
    }
}
