import Dispatch
import Grammar
import Models
import ServingAPI
import Tokenizers

/// Everything the step loop keeps for one admitted request: its tokens and blocks
/// (`EngineRequest`), how to pick and render the next token, and where to send it.
/// Built by the submitting thread and handed over once, through the engine's inbox; from then on
/// only the step loop touches it.
final class ActiveRequest: @unchecked Sendable {
    typealias Continuation = AsyncThrowingStream<InferenceEvent, any Error>.Continuation

    let state: EngineRequest
    let parameters: SamplingParameters
    let maxTokens: Int
    let stopTokenIds: Set<Int>
    let continuation: Continuation
    /// What this engine does for the request when its work is split with other engines.
    let handoff: KVHandoff
    /// The request's encoded images and where they go in the prompt; nil for text-only requests.
    let images: ImagePipeline.Prepared?
    /// Qwen2-VL's 3-D rotary positions of an image prompt; nil for 1-D positions.
    let mrope: MRoPEPositions?
    /// Tokens (image tokens included) the request counted against the admission queue.
    let admissionCost: Int
    /// The prompt's KV was imported from the engine that prefilled it, which counted its tokens.
    var promptImported = false
    private var sampler: Sampler
    private var detokenizer: StreamingDetokenizer
    private var stops: StopStringMatcher
    /// Where the output is in its grammar; nil for unconstrained requests.
    private var matcher: GrammarMatcher?
    private let arrival = DispatchTime.now()
    private(set) var timings = RequestTimings()
    private(set) var generated = 0
    /// Log-probabilities of prompt tokens 1..<promptCount, filled as prompt chunks run (by position,
    /// so a recompute after preemption writes the same entries again).
    private var promptLogprobs: [TokenLogprobs?] = []

    init(state: EngineRequest, parameters: SamplingParameters, maxTokens: Int, stopTokenIds: Set<Int>,
         tokenizer: Tokenizer, continuation: Continuation, handoff: KVHandoff = .none,
         images: ImagePipeline.Prepared? = nil, admissionCost: Int? = nil, grammar: TokenGrammar? = nil) {
        self.state = state
        self.parameters = parameters
        self.maxTokens = maxTokens
        self.stopTokenIds = stopTokenIds
        self.continuation = continuation
        self.handoff = handoff
        self.images = images
        mrope = images?.prompt.mrope ?? handoff.importedMRoPE
        self.admissionCost = admissionCost ?? state.promptCount
        timings.images = images?.timings ?? []
        sampler = Sampler(parameters)
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        stops = StopStringMatcher(parameters.stopStrings)
        matcher = grammar?.makeMatcher()
        if parameters.promptLogprobs != nil {
            state.bypassesPrefixCache = true
            promptLogprobs = Array(repeating: nil, count: max(0, state.promptCount - 1))
        }
    }

    /// Notes the logits of positions `start ..< start + rows.count`: each predicts the prompt token after it.
    func recordPromptLogits(_ rows: ArraySlice<[Float]>, start: Int) {
        guard let n = parameters.promptLogprobs else { return }
        for (j, row) in rows.enumerated() {
            let target = start + j + 1
            guard target < state.promptCount else { break }
            let lp = Sampler.logprobs(row, chosen: state.tokens[target], top: n)
            promptLogprobs[target - 1] = TokenLogprobs(token: TokenLogprob(id: state.tokens[target], logprob: lp.chosen), top: lp.top)
        }
    }

    /// The prompt log-probabilities for the first delta; nil when not asked or already sent.
    private func takePromptLogprobs() -> [TokenLogprobs]? {
        guard parameters.promptLogprobs != nil, generated <= 1, !promptSent else { return nil }
        promptSent = true
        return promptLogprobs.compactMap { $0 }
    }

    private var promptSent = false

    /// Streams the prompt log-probabilities alone, when asked: a prefill-only request samples nothing.
    func sendPromptLogprobs() {
        guard let prompt = takePromptLogprobs() else { return }
        continuation.yield(.delta(TokenDelta(tokenIds: [], text: "", promptLogprobs: prompt)))
    }

    private var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - arrival.uptimeNanoseconds) / 1e9 }

    /// Whether a step has run any of this request's tokens yet; until then it counts as queued.
    private(set) var wasScheduled = false

    /// Notes a step that runs this request; true the first time.
    func markScheduled() -> Bool {
        guard !wasScheduled else { return false }
        wasScheduled = true
        timings.queued = elapsed
        return true
    }

    /// Samples the next token from `logits`, streams it, and returns why the request ended, if it did.
    func accept(logits: [Float]) -> FinishReason? {
        if maxTokens <= 0 {
            // Only the prompt was asked for (echo with max_tokens 0): nothing is sampled.
            continuation.yield(.delta(TokenDelta(tokenIds: [], text: "", promptLogprobs: takePromptLogprobs() ?? [])))
            return .length
        }
        // logit_bias first, then the grammar's mask (so no bias can bring back a forbidden token).
        var adjusted = logits
        for (id, bias) in parameters.logitBias where id < adjusted.count { adjusted[id] += bias }
        if let matcher {
            let mask = matcher.allowedTokens()
            // No token of this vocabulary continues the output: it ends where it is.
            guard !mask.isEmpty else { return endWithoutToken() }
            mask.apply(to: &adjusted)
        }
        let token = sampler.sample(adjusted)
        matcher?.advance(token)
        state.append(token)
        generated += 1
        if generated == 1 { timings.firstToken = elapsed }
        var logprobs: [TokenLogprobs] = []
        if let n = parameters.topLogprobs {
            let lp = Sampler.logprobs(logits, chosen: token, top: n)
            logprobs = [TokenLogprobs(token: TokenLogprob(id: token, logprob: lp.chosen), top: lp.top)]
        }
        let isStopToken = parameters.stopTokenIds.contains(token) || (!parameters.ignoreStopTokens && stopTokenIds.contains(token))
        var text = isStopToken ? "" : stops.append(detokenizer.append(token))
        let complete = matcher?.isTerminated ?? false
        let reason: FinishReason? = isStopToken || stops.isStopped || complete ? .stop : generated >= maxTokens ? .length : nil
        if reason != nil {
            text += stops.append(detokenizer.finish())
            text += stops.finish()
        }
        continuation.yield(.delta(TokenDelta(tokenIds: [token], text: text, logprobs: logprobs, promptLogprobs: takePromptLogprobs())))
        return reason
    }

    private func endWithoutToken() -> FinishReason {
        let text = stops.append(detokenizer.finish()) + stops.finish()
        if !text.isEmpty { continuation.yield(.delta(TokenDelta(tokenIds: [], text: text))) }
        return .stop
    }

    func finish(_ reason: FinishReason) {
        timings.total = elapsed
        continuation.yield(.finished(FinishInfo(
            reason: reason, promptTokens: state.promptCount, completionTokens: generated,
            cachedTokens: state.cachedPromptTokens, timings: timings)))
        continuation.finish()
    }

    func fail(_ error: EngineError) {
        continuation.finish(throwing: error)
    }
}
