/// Where a request is in its life.
public enum RequestStatus: Sendable, Equatable {
    /// Its images are being fetched, preprocessed or encoded; not yet schedulable.
    case encoding
    case waiting
    case running
    case finished
}

import Cluster
import CoreUtilities
import ServingAPI

/// One request's tokens and KV blocks as the scheduler and block manager see them.
///
/// Like nano-vllm's `Sequence`: prompt and output tokens in one array, how many of them already
/// have KV (`computedTokens`), and the KV blocks that hold them (`blockTable`).
public final class EngineRequest: @unchecked Sendable {
    public let id: Int
    public private(set) var tokens: [Int]
    public let promptCount: Int
    public let images: [ImageSpan]
    /// The arrival order; it breaks ties between equal batch-policy priorities.
    public let arrival: Int
    /// What the batch policy orders the waiting queue by (``QueuedRequest``): arrival time in
    /// seconds, the latency objective of the request's SLO class, its predicted output tokens.
    public let arrivalSeconds: Double
    public let slo: LatencySLO
    public let predictedOutputTokens: Int
    public var status: RequestStatus
    /// Tokens whose KV is in the cache (from a prefix hit or from earlier steps).
    public var computedTokens = 0
    /// Prompt tokens that were found in the prefix cache at admission.
    public var cachedPromptTokens = 0
    public var blockTable: [Int] = []
    /// Chained hashes of this request's full blocks that are registered in the prefix cache.
    var blockHashes: [UInt64] = []
    /// The copy that fills this request's partial block from a cached one, set at admission; the
    /// engine carries it out before the request's next tokens run.
    public var pendingCopy: BlockCopy?
    /// Computes every prompt token (no prefix-cache hit), for prompt log-probabilities.
    public var bypassesPrefixCache = false

    /// `arrivalSeconds` defaults to `arrival`, `predictedOutputTokens` to 1 and the objective to none.
    public init(id: Int, prompt: [Int], images: [ImageSpan] = [], arrival: Int, status: RequestStatus = .waiting,
                arrivalSeconds: Double? = nil, slo: LatencySLO = LatencySLO(ttft: .infinity, tpot: .infinity),
                predictedOutputTokens: Int = 1) {
        self.id = id
        tokens = prompt
        promptCount = prompt.count
        self.images = images
        self.arrival = arrival
        self.status = status
        self.arrivalSeconds = arrivalSeconds ?? Double(arrival)
        self.slo = slo
        self.predictedOutputTokens = predictedOutputTokens
    }

    /// The request as a batch policy sees it.
    public var queued: QueuedRequest {
        QueuedRequest(id: id, arrival: arrivalSeconds, promptTokens: promptCount, predictedOutputTokens: predictedOutputTokens, slo: slo)
    }

    public var count: Int { tokens.count }
    public var outputTokens: ArraySlice<Int> { tokens[promptCount...] }
    /// Tokens still to run through the model before the next one can be sampled.
    public var pendingTokens: Int { count - computedTokens }
    /// Whether its next step is a decode: the prompt is computed and one sampled token waits.
    public var isDecoding: Bool { count > promptCount && pendingTokens == 1 }

    public func append(_ token: Int) { tokens.append(token) }

    /// Forget all computed KV (after preemption by recompute); the tokens stay.
    func resetComputation() {
        computedTokens = 0
        blockTable = []
        blockHashes = []
        pendingCopy = nil
    }
}
