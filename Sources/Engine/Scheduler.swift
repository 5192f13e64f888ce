import Cluster
import ServingAPI

/// Limits of one engine step.
public struct SchedulerConfig: Sendable {
    /// Tokens run through the model per step (decode tokens and prefill chunks together).
    public var maxBatchedTokens: Int
    /// Requests in the running batch at once.
    public var maxRunningRequests: Int
    /// Prompt tokens (prefill chunks and new admissions) in a step that also decodes: a step's
    /// time grows with its prefill tokens, and every decoding request waits for the whole step,
    /// so this bounds the inter-token latency that arriving prompts add (Sarathi-Serve's chunk
    /// budget). A step with nothing to decode may prefill up to `maxBatchedTokens`.
    public var maxPrefillTokensWhileDecoding: Int
    /// Seconds a step that decodes should take at most: its prompt tokens are cut further by the
    /// ``StepTimeBudget`` rule, with the step times the engine measured (``StepTimeModel``), as the
    /// simulator cuts them with its cost model's. Nil: the token cap alone. A step with nothing to
    /// decode is not limited by time.
    public var stepTimeTarget: Double?

    public init(maxBatchedTokens: Int = 2048, maxRunningRequests: Int = 64, maxPrefillTokensWhileDecoding: Int = 512,
                stepTimeTarget: Double? = nil) {
        self.maxBatchedTokens = maxBatchedTokens
        self.maxRunningRequests = maxRunningRequests
        self.maxPrefillTokensWhileDecoding = maxPrefillTokensWhileDecoding
        self.stepTimeTarget = stepTimeTarget
    }
}

/// What one step runs: for each request, how many of its pending tokens (vLLM v1's `schedule()` result).
public struct SchedulerOutput: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var requestId: Int
        /// The first token position this step computes.
        public var start: Int
        public var tokens: Int
    }

    public var entries: [Entry] = []
    /// Requests this step admitted from the waiting queue, in the policy's order (the batching decision).
    public var admitted: [Int] = []
    /// Requests that lost their KV this step and went back to the waiting queue.
    public var preempted: [Int] = []
    /// KV copies that seed admitted requests' partial blocks; they run before the step's tokens.
    public var copies: [BlockCopy] = []
    public var totalTokens: Int { entries.reduce(0) { $0 + $1.tokens } }
}

/// Continuous batching with a per-step token budget: decodes first (one token for every running
/// request that has no prompt left, so a prefill never starves them), then the next chunks of
/// running prefills, then waiting requests with chunked prefill. While anything decodes, the
/// prompt tokens of a step are capped by `maxPrefillTokensWhileDecoding`. When KV blocks run out,
/// the running request last in the policy's order is preempted and recomputed later.
///
/// The waiting queue is ordered by a ``BatchPolicy`` (vLLM v1's pluggable request queue): FCFS,
/// ModServe's short-first or UELLM's SLO-ODBS. Each step admits waiting requests in that order
/// while the policy admits them into the step's new batch, as the simulator's chunked step does;
/// the first is always admitted. The scheduler is the one owner of block allocation, for computed
/// and for imported KV (``add(_:importing:copy:write:)``).
///
/// ```swift
/// let scheduler = Scheduler(config: SchedulerConfig(), blocks: BlockManager(blockCount: 64, blockSize: 16), policy: SLOOrderedBatcher())
/// scheduler.add(request)
/// let output = scheduler.schedule()
/// ```
public final class Scheduler: @unchecked Sendable {
    public let config: SchedulerConfig
    public let blocks: BlockManager
    public let policy: any BatchPolicy
    /// Waiting requests in run order: ascending policy priority, then arrival.
    public private(set) var waiting: [EngineRequest] = []
    public private(set) var running: [EngineRequest] = []
    /// Prefix-cache statistics in prompt tokens over all admissions, as vLLM reports them.
    public private(set) var prefixQueriedTokens = 0
    public private(set) var prefixHitTokens = 0
    /// Step times seen so far (``observe(_:)``), which size prefill chunks under `stepTimeTarget`.
    public private(set) var stepTimes = StepTimeModel()

    public init(config: SchedulerConfig, blocks: BlockManager, policy: any BatchPolicy = FCFSBatcher()) {
        self.config = config
        self.blocks = blocks
        self.policy = policy
    }

    public var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    /// Queues a request whose inputs are ready (its images, if any, encoded).
    public func add(_ request: EngineRequest) {
        request.status = .waiting
        enqueue(request)
    }

    /// Queues a request whose first `end` positions' KV was computed elsewhere: gives it blocks
    /// (any prefix cached here is kept and its partial block seeded by `copy`), has `write` fill the
    /// positions the cache lacked, and counts them computed. False, with nothing allocated, when
    /// the blocks are not free.
    public func add(_ request: EngineRequest, importing end: Int, copy: (BlockCopy) -> Void,
                    write: (_ blockTable: [Int], _ positions: Range<Int>) -> Void) -> Bool {
        blocks.admit(request)
        if let seed = request.pendingCopy { copy(seed) }
        request.pendingCopy = nil
        let from = request.computedTokens
        if from < end {
            guard blocks.reserve(request, tokens: end - from) else {
                blocks.free(request)
                return false
            }
            write(request.blockTable, from ..< end)
            request.computedTokens = end
            blocks.commit(request)
        }
        add(request)
        return true
    }

    /// The run order of a request: its policy priority, then its arrival.
    private func order(_ request: EngineRequest) -> (Double, Int) {
        (policy.priority(of: request.queued), request.arrival)
    }

    private func enqueue(_ request: EngineRequest) {
        let key = order(request)
        waiting.insert(request, at: waiting.firstIndex { key < order($0) } ?? waiting.endIndex)
    }

    public func schedule() -> SchedulerOutput {
        var output = SchedulerOutput()
        var budget = config.maxBatchedTokens
        var scheduled: [EngineRequest] = []
        let decoding = running.filter(\.isDecoding)
        let room = decoding.isEmpty ? StepTimeBudget.Room(tokens: .max, admits: true) : promptRoom(decoding: decoding.count)
        var prefillBudget = room.tokens

        // Decodes, then running prefills; a preempted request leaves `running` and is skipped.
        for request in decoding + running.filter({ !$0.isDecoding }) where budget > 0 && request.status == .running {
            let tokens = min(request.pendingTokens, budget, request.isDecoding ? 1 : prefillBudget)
            guard tokens > 0 else { continue }
            while !blocks.reserve(request, tokens: tokens) {
                let candidates = running.filter { r in !scheduled.contains { $0 === r } }
                guard let victim = candidates.max(by: { order($0) < order($1) }) else { break }
                preempt(victim, into: &output)
                if victim === request { break }
            }
            guard request.status == .running else { continue }
            scheduled.append(request)
            output.entries.append(.init(requestId: request.id, start: request.computedTokens, tokens: tokens))
            budget -= tokens
            if !request.isDecoding { prefillBudget -= tokens }
        }

        // Requests this step admits from the waiting queue, which the policy grows as a batch.
        var admitted = BatchSoFar()
        let limits = BatchLimits(maxRequests: config.maxRunningRequests, maxTokens: .max)
        while room.admits, budget > 0, prefillBudget > 0, running.count < config.maxRunningRequests, output.preempted.isEmpty,
              let request = waiting.first {
            let queued = request.queued
            if admitted.count > 0, !policy.admits(queued, into: admitted, limits: limits) { break }
            if request.blockTable.isEmpty { blocks.admit(request) }
            let tokens = min(request.pendingTokens, budget, prefillBudget)
            guard blocks.reserve(request, tokens: tokens) else {
                blocks.free(request)
                break
            }
            waiting.removeFirst()
            admitted.add(queued)
            output.admitted.append(request.id)
            if let copy = request.pendingCopy {
                output.copies.append(copy)
                request.pendingCopy = nil
            }
            prefixQueriedTokens += request.promptCount
            prefixHitTokens += request.cachedPromptTokens
            request.status = .running
            running.append(request)
            output.entries.append(.init(requestId: request.id, start: request.computedTokens, tokens: tokens))
            budget -= tokens
            prefillBudget -= tokens
        }
        return output
    }

    /// Prompt tokens a step that decodes `decoding` sequences may carry, and whether it may admit.
    private func promptRoom(decoding: Int) -> StepTimeBudget.Room {
        StepTimeBudget(target: config.stepTimeTarget).room(decoding: decoding, cap: config.maxPrefillTokensWhileDecoding,
                                                           minimumChunk: blocks.blockSize) {
            stepTimes.seconds(prefillTokens: $0, decodeSequences: $1)
        }
    }

    /// Records how long a step of this shape took, for `stepTimeTarget`.
    public func observe(_ step: EngineStep) {
        stepTimes.observe(prefillTokens: step.prefillTokens, decodeSequences: step.decodeSequences, seconds: step.seconds)
    }

    /// Records that the step ran: computed tokens advance and newly full blocks enter the prefix cache.
    /// The caller then appends each sampled token to requests with no pending prompt left.
    public func complete(_ output: SchedulerOutput) {
        for entry in output.entries {
            guard let request = running.first(where: { $0.id == entry.requestId }) else { continue }
            request.computedTokens += entry.tokens
            blocks.commit(request)
        }
    }

    /// Removes a request (finished, aborted or disconnected) and frees its blocks.
    public func finish(_ requestId: Int) {
        if let i = running.firstIndex(where: { $0.id == requestId }) {
            let request = running.remove(at: i)
            blocks.free(request)
            request.status = .finished
        } else if let i = waiting.firstIndex(where: { $0.id == requestId }) {
            let request = waiting.remove(at: i)
            blocks.free(request)
            request.status = .finished
        }
    }

    /// Removes a running request but keeps its blocks, whose KV another engine will read; free them
    /// later with `blocks.free`. Nil when the request is not running.
    public func detach(_ requestId: Int) -> EngineRequest? {
        guard let i = running.firstIndex(where: { $0.id == requestId }) else { return nil }
        let request = running.remove(at: i)
        request.status = .finished
        return request
    }

    private func preempt(_ request: EngineRequest, into output: inout SchedulerOutput) {
        running.removeAll { $0 === request }
        blocks.free(request)
        request.status = .waiting
        enqueue(request)
        output.preempted.append(request.id)
    }
}
