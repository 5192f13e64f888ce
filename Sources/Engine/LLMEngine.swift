import Cluster
import Foundation
import Grammar
import Imaging
import Models
import ServingAPI
import Synchronization
import Tensor
import Tokenizers

/// The single-process engine: continuous batching over a paged KV cache, one step loop on its own
/// thread, requests bridged to async callers by streams (nano-vllm's `LLMEngine`, vLLM v1's `EngineCore`).
///
/// ```swift
/// let engine = try LLMEngine(directory: modelURL, config: EngineConfig())
/// for try await event in try engine.submit(InferenceRequest(prompt: .text("Hi"), parameters: p)) { … }
/// ```
public final class LLMEngine: InferenceEngine, @unchecked Sendable {
    public let servedModel: ServedModel
    public let config: EngineConfig
    /// What this engine loaded of its model folder.
    public let parts: ModelParts
    /// The decoder's hyper-parameters (known without its weights).
    let textConfig: LanguageModelConfig
    /// The decoder, its KV cache and scheduler; nil for an engine that only encodes images.
    let language: LanguageSide?
    private let defaults: GenerationDefaults
    let stopTokenIds: Set<Int>
    /// Preprocessing, encoding and the encoder cache of a vision-language model; nil for text models.
    let imagePipeline: ImagePipeline?
    /// How the model turns an image's size into prompt tokens; nil for text-only models.
    public var imageTokenRule: ImageTokenRule? { imagePipeline?.imageTokenRule }
    /// Compiled grammars over this model's vocabulary, built on the first constrained request.
    private let grammarCache = Mutex<GrammarCache?>(nil)

    /// What the step loop runs on.
    struct LanguageSide {
        let model: any CausalLanguageModel
        let kvCache: PagedKVCache
        let scheduler: Scheduler
        /// The later stages of a layer-split model whose first stage this engine runs.
        var next: (any PipelineLink)?

        /// Carries out the block manager's copies that seed partial blocks, before the tokens they serve run.
        func copyBlocks(_ copies: [BlockCopy]) {
            for c in copies { kvCache.copy(block: c.source, to: c.destination, positions: c.positions) }
        }

        /// One step's logits: the copies, then the model, or this stage's units and the later stages.
        func forward(_ batch: [BatchSequence], copies: [BlockCopy]) throws -> [[Float]] {
            copyBlocks(copies)
            guard let next, let decoder = model as? DecoderLanguageModel else { return try model.forward(batch: batch, cache: kvCache) }
            return try PipelineStage.handOn(decoder.forward(batch: batch, hidden: nil, cache: kvCache), batch, copies: copies, to: next)
        }
    }

    /// What `submit`, stream cancellation and `shutdown` share with the loop thread.
    struct Shared {
        var state = EngineState.ready
        var inbox: [ActiveRequest] = []
        var aborted: Set<Int> = []
        var queuedRequests = 0
        var queuedTokens = 0
        /// Admitted and not yet finished.
        var liveRequests = 0
        var nextId = 0
        /// Admitted requests whose images are still being preprocessed or encoded.
        var encoding = 0
        var statistics = EngineStatistics()
        /// Prefilled requests whose KV blocks wait for another engine to pull them, by request id.
        var parked: [Int: ParkedPrompt] = [:]
        /// Parked requests whose blocks the loop should free.
        var releases: [Int] = []
    }

    let shared = Mutex(Shared())
    private let wakeUp = NSCondition()
    /// Requests the loop owns, by id. Touched only on the loop thread.
    var active: [Int: ActiveRequest] = [:]
    /// Requests cancelled before they reached the loop (still encoding). Loop thread only.
    private var abortedBeforeArrival: Set<Int> = []
    private var loopThread: Thread?

    /// Loads `parts` of the model in `directory`: everything by default; only `.languageModel` for
    /// prefill and decode (a vision-language model's tower then loads when an image first needs
    /// encoding here); only `.visionEncoder` for an engine that encodes images for others
    /// (`encodeImages`), with no language model, KV cache or step loop. A text model is always
    /// loaded whole (`parts` is then `.languageModel`). With `firstStage` the engine runs only the
    /// first units of a layer-split model and hands each step's hidden states to the later stages.
    public init(directory: URL, config: EngineConfig = EngineConfig(), parts: ModelParts = .all, firstStage: PipelineFirstStage? = nil) throws {
        self.config = config
        let multimodal = ModelLoader.visionLanguageArchitectures.contains(try ModelLoader.architecture(directory: directory))
        self.parts = multimodal ? parts : .languageModel
        textConfig = try ModelLoader.languageModelConfig(directory: directory)
        var model: (any CausalLanguageModel)?
        if multimodal {
            if parts.contains(.languageModel) { model = try ModelLoader.loadVisionLanguageDecoder(directory: directory) }
            let encoder = parts.contains(.visionEncoder) ? try ModelLoader.loadVisionLanguageEncoder(directory: directory) : nil
            imagePipeline = try ImagePipeline(
                format: encoder?.format ?? ModelLoader.loadImagePromptFormat(directory: directory), encoder: encoder,
                loadEncoder: { try ModelLoader.loadVisionLanguageEncoder(directory: directory) },
                processor: ImageProcessorLoader.load(directory: directory), cacheBudgetTokens: config.encoderCacheTokens,
                background: config.backgroundImageWork)
        } else {
            model = try ModelLoader.load(directory: directory, quantization: config.weightQuantization)
            imagePipeline = nil
        }
        let tokenizer = try ModelLoader.loadTokenizer(at: directory)
        defaults = try GenerationDefaults.load(directory: directory)
        let contextLength = min(config.maxModelLength ?? .max, textConfig.maxPositionEmbeddings)
        servedModel = ServedModel(
            name: config.servedModelName ?? directory.standardizedFileURL.lastPathComponent,
            contextLength: contextLength, tokenizer: tokenizer, chatTemplate: tokenizer.chatTemplate,
            imagePlaceholder: imagePipeline?.format.imagePlaceholder)
        var stops = defaults.eosTokenIds.union(textConfig.eosTokenIds)
        if stops.isEmpty, let eos = tokenizer.eosTokenId { stops.insert(eos) }
        stopTokenIds = stops

        guard var model else {
            language = nil
            return
        }
        var blockCount = config.kvCacheMemoryBytes / PagedKVCache.bytesPerBlock(config: model.config, blockSize: config.blockSize)
        if let firstStage {
            guard let decoder = model as? DecoderLanguageModel, firstStage.units.hasEmbedding else {
                throw EngineError.invalidRequest("a pipeline's first stage runs a decoder's first units, from the embedding; got \(firstStage.units)")
            }
            let stage = try decoder.slice(firstStage.units)
            blockCount = PipelineStage.blockCount(stage, memory: config.kvCacheMemoryBytes, blockSize: config.blockSize, next: firstStage.next)
            model = stage
        }
        guard blockCount * config.blockSize >= contextLength else {
            throw EngineError.invalidRequest(
                "--kv-cache-memory of \(config.kvCacheMemoryBytes) bytes holds \(blockCount * config.blockSize) tokens, "
                    + "less than the context length \(contextLength); give more memory or a smaller --max-model-len")
        }
        language = LanguageSide(
            model: model, kvCache: PagedKVCache(config: model.config, blockCount: blockCount, blockSize: config.blockSize,
                                                layers: (model as? DecoderLanguageModel)?.kvLayers),
            scheduler: Scheduler(config: config.scheduler, blocks: BlockManager(blockCount: blockCount, blockSize: config.blockSize),
                                 policy: config.batchPolicy),
            next: firstStage?.next)
        let thread = Thread { [unowned self, language] in self.runLoop(language) }
        thread.name = "tessera-engine"
        loopThread = thread
        thread.start()
    }

    public var state: EngineState { shared.withLock { $0.state } }

    public func statistics() -> EngineStatistics { shared.withLock { $0.statistics } }

    public func submit(_ request: InferenceRequest) throws(EngineError) -> AsyncThrowingStream<InferenceEvent, any Error> {
        try submitIdentified(request).stream
    }

    /// Submits `request` and returns the id its steps report it by (``EngineStep/admitted``) with its event stream.
    public func submitIdentified(_ request: InferenceRequest) throws(EngineError)
        -> (id: Int, stream: AsyncThrowingStream<InferenceEvent, any Error>)
    {
        do { try request.parameters.validate() } catch { throw .invalidRequest(error.message) }
        let prompt = switch request.prompt {
        case let .text(text): servedModel.tokenizer.encode(text)
        case let .tokens(ids): ids
        }
        try check(prompt)
        guard !request.images.isEmpty else {
            return try enqueue(prompt: prompt, parameters: request.parameters, sloClass: request.sloClass, handoff: .none)
        }
        return try enqueue(prompt: prompt, images: request.images.map(ImageReference.init), parameters: request.parameters, sloClass: request.sloClass)
    }

    /// The objective of an SLO class; an unknown class is the client's error.
    func objective(_ sloClass: String?) throws(EngineError) -> LatencySLO {
        do { return try config.sloClasses.objective(for: sloClass) } catch { throw .invalidRequest(error.description) }
    }

    /// A request's tokens with what the batch policy orders it by: its class's objective, its
    /// output tokens as the predictor (or else `maxTokens`) sees them, and its arrival now.
    /// `prompt` is the prompt before its images expand into `expanded`.
    private func state(id: Int, prompt: [Int], expanded: [Int], images: [ImageSpan], slo: LatencySLO, maxTokens: Int) -> EngineRequest {
        let predicted = config.outputLengthPredictor.map { predictor in
            min(maxTokens, predictor.predictedTokens(
                prompt: servedModel.tokenizer.decode(prompt, skipSpecialTokens: true), promptTokens: expanded.count))
        }
        let request = EngineRequest(id: id, prompt: expanded, images: images, arrival: id,
                                    arrivalSeconds: Double(DispatchTime.now().uptimeNanoseconds) / 1e9, slo: slo,
                                    predictedOutputTokens: predicted ?? maxTokens)
        request.bypassesPrefixCache = !config.prefixCaching
        return request
    }

    /// Queues a checked prompt; returns the request's id and event stream.
    func enqueue(prompt: [Int], imageSpans: [ImageSpan] = [], parameters: SamplingParameters, sloClass: String? = nil,
                 handoff: KVHandoff) throws(EngineError)
        -> (id: Int, stream: AsyncThrowingStream<InferenceEvent, any Error>)
    {
        let grammar = try tokenGrammar(parameters)
        let slo = try objective(sloClass)
        let (id, stream, continuation) = try admit(cost: prompt.count, encoding: false)
        let maxTokens = min(parameters.maxTokens, servedModel.contextLength - prompt.count)
        let request = ActiveRequest(
            state: state(id: id, prompt: prompt, expanded: prompt, images: imageSpans, slo: slo, maxTokens: maxTokens),
            parameters: parameters, maxTokens: maxTokens, stopTokenIds: stopTokenIds,
            tokenizer: servedModel.tokenizer, continuation: continuation, handoff: handoff, grammar: grammar)
        shared.withLock { $0.inbox.append(request) }
        signal()
        return (id, stream)
    }

    /// Queues a prompt with images: admission counts their tokens from the image sizes, then the
    /// image pipeline preprocesses and encodes them off the step loop, and the request joins the
    /// scheduler once its features are ready.
    func enqueue(prompt: [Int], images: [ImageReference], parameters: SamplingParameters, sloClass: String? = nil,
                 handoff: KVHandoff = .none) throws(EngineError)
        -> (id: Int, stream: AsyncThrowingStream<InferenceEvent, any Error>)
    {
        let slo = try objective(sloClass)
        guard let pipeline = imagePipeline else {
            throw .invalidRequest("model '\(servedModel.name)' does not accept images")
        }
        let placeholders = prompt.reduce(0) { $0 + ($1 == pipeline.format.imageTokenId ? 1 : 0) }
        guard placeholders == images.count else {
            throw .invalidRequest("the prompt has \(placeholders) image placeholders but \(images.count) images were given")
        }
        let imageTokens: Int
        do { imageTokens = try images.reduce(0) { $0 + (try pipeline.estimatedTokens(for: $1)) } } catch {
            throw .invalidRequest("image cannot be processed: \(error)")
        }
        let expandedLength = prompt.count - images.count + imageTokens
        guard expandedLength < servedModel.contextLength else {
            throw .contextLengthExceeded("the prompt has \(expandedLength) tokens with its images expanded, but this model's maximum "
                + "context length is \(servedModel.contextLength) tokens (prompt plus at least one generated token)")
        }
        let grammar = try tokenGrammar(parameters)
        let (id, stream, continuation) = try admit(cost: expandedLength, encoding: true)
        pipeline.prepare(tokens: prompt, images: images) { [weak self] result in
            guard let self else { return }
            switch result {
            case let .success(prepared):
                let tokens = prepared.prompt.tokenIds
                let maxTokens = min(parameters.maxTokens, servedModel.contextLength - tokens.count)
                let request = ActiveRequest(
                    state: state(id: id, prompt: prompt, expanded: tokens, images: prepared.spans, slo: slo, maxTokens: maxTokens),
                    parameters: parameters, maxTokens: maxTokens, stopTokenIds: stopTokenIds,
                    tokenizer: servedModel.tokenizer, continuation: continuation, handoff: handoff, images: prepared,
                    admissionCost: expandedLength, grammar: grammar)
                shared.withLock { s in
                    s.encoding -= 1
                    s.inbox.append(request)
                }
                signal()
            case let .failure(error):
                continuation.finish(throwing: error)
                shared.withLock { s in
                    s.encoding -= 1
                    s.liveRequests -= 1
                    s.queuedRequests -= 1
                    s.queuedTokens -= expandedLength
                }
            }
        }
        return (id, stream)
    }

    /// The compiled grammar a request's output must follow; a grammar that cannot be compiled is the client's error.
    func tokenGrammar(_ parameters: SamplingParameters) throws(EngineError) -> TokenGrammar? {
        guard let spec = parameters.grammar else { return nil }
        let cache = grammarCache.withLock { cache in
            if let cache { return cache }
            let tokenizer = servedModel.tokenizer
            let made = GrammarCache(vocabulary: TokenVocabulary(tokenBytes: tokenizer.allTokenBytes(), endTokens: stopTokenIds))
            cache = made
            return made
        }
        do { return try cache.grammar(for: spec) } catch { throw .invalidRequest(error.message) }
    }

    public var queueCapacity: QueueCapacity { QueueCapacity(requests: config.maxQueuedRequests, tokens: config.maxQueuedTokens) }

    public func checkAdmission() throws(EngineError) {
        try shared.withLock { (s: inout Shared) throws(EngineError) in try checkQueues(s, cost: 1) }
    }

    /// Refuses a request of `cost` prompt tokens when the engine is stopping or its queues are full.
    private func checkQueues(_ s: Shared, cost: Int) throws(EngineError) {
        guard s.state == .ready else { throw .shuttingDown }
        guard s.queuedRequests < config.maxQueuedRequests, s.queuedTokens + cost <= config.maxQueuedTokens else {
            throw .overloaded(retryAfterSeconds: 1)
        }
    }

    /// Counts a new request against the queue caps and gives it an id and a stream; cancelling the
    /// stream's consumer aborts the request.
    private func admit(cost: Int, encoding: Bool) throws(EngineError)
        -> (id: Int, stream: AsyncThrowingStream<InferenceEvent, any Error>, continuation: ActiveRequest.Continuation)
    {
        let (stream, continuation) = AsyncThrowingStream<InferenceEvent, any Error>.makeStream()
        guard language != nil else {
            throw .invalidRequest("this engine only encodes images: it was started without its language model")
        }
        let id = try shared.withLock { (s: inout Shared) throws(EngineError) -> Int in
            try checkQueues(s, cost: cost)
            let id = config.firstRequestID &+ s.nextId
            s.nextId += 1
            s.queuedRequests += 1
            s.queuedTokens += cost
            s.liveRequests += 1
            if encoding { s.encoding += 1 }
            return id
        }
        continuation.onTermination = { [weak self] termination in
            guard case .cancelled = termination, let self else { return }
            self.shared.withLock { _ = $0.aborted.insert(id) }
            self.signal()
        }
        return (id, stream, continuation)
    }

    func check(_ prompt: [Int]) throws(EngineError) {
        try promptLimits.check(prompt)
    }

    public func shutdown(gracePeriod: Duration) async {
        shared.withLock { $0.state = .draining }
        let deadline = ContinuousClock.now + gracePeriod
        while ContinuousClock.now < deadline, shared.withLock({ $0.liveRequests > 0 }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        shared.withLock { $0.state = .stopped }
        signal()
        while loopThread?.isFinished == false { try? await Task.sleep(for: .milliseconds(5)) }
    }

    func signal() {
        wakeUp.lock()
        wakeUp.signal()
        wakeUp.unlock()
    }
}

// MARK: - The step loop

extension LLMEngine {
    private func runLoop(_ language: LanguageSide?) {
        guard let language else { return }
        ComputeThreads.makeCurrentThreadCompute()
        let scheduler = language.scheduler
        while true {
            let (incoming, aborted, state, releases) = shared.withLock { s in
                defer { s.inbox = []; s.aborted = []; s.releases = [] }
                return (s.inbox, s.aborted, s.state, s.releases)
            }
            releaseParked(releases, language)
            for request in incoming {
                active[request.state.id] = request
                queue(request, language)
            }
            for id in aborted {
                // A request cancelled while its images were encoding arrives later; drop it then.
                if active[id] == nil { abortedBeforeArrival.insert(id) }
                finish(id, reason: nil)
            }
            for id in abortedBeforeArrival where active[id] != nil {
                abortedBeforeArrival.remove(id)
                finish(id, reason: nil)
            }
            if state == .stopped {
                for id in Array(active.keys) { active[id]?.fail(.shuttingDown); finish(id, reason: nil) }
                return
            }
            if scheduler.hasWork {
                step(language)
            } else {
                wakeUp.lock()
                if shared.withLock({ $0.inbox.isEmpty && $0.aborted.isEmpty && $0.releases.isEmpty && $0.state != .stopped }) {
                    wakeUp.wait(until: Date().addingTimeInterval(0.5))
                }
                wakeUp.unlock()
            }
        }
    }

    /// One engine step: schedule, run the batch through the model, sample, stream, retire.
    private func step(_ language: LanguageSide) {
        let scheduler = language.scheduler
        let stepStart = DispatchTime.now().uptimeNanoseconds
        let output = scheduler.schedule()
        var shape = EngineStep()
        var batch: [BatchSequence] = []
        var sampling: [ActiveRequest] = []
        var started: [ActiveRequest] = []
        for entry in output.entries {
            guard let request = active[entry.requestId] else { continue }
            let s = request.state
            let wantsLogits = entry.start + entry.tokens == s.count
            var sequence = BatchSequence(tokens: Array(s.tokens[entry.start ..< entry.start + entry.tokens]),
                                         start: entry.start, blockTable: s.blockTable, wantsLogits: wantsLogits,
                                         images: request.images?.features ?? [], mrope: request.mrope)
            // Prompt log-probabilities need the logits of every prompt position.
            sequence.allLogits = request.parameters.promptLogprobs != nil && entry.start < s.promptCount
            batch.append(sequence)
            if entry.start >= s.promptCount {
                shape.decodeSequences += 1
                shape.contextTokens += entry.start + 1
            } else {
                shape.prefillSequences += 1
                shape.prefillTokens += entry.tokens
                shape.squaredLengths += Double(entry.tokens) * Double(entry.start + entry.tokens)
            }
            if wantsLogits { sampling.append(request) }
            if request.markScheduled() { started.append(request) }
        }
        dequeue(started, preempted: output.preempted.count)
        let logits: [[Float]]
        do {
            logits = try language.forward(batch, copies: output.copies)
        } catch {
            for request in output.entries.compactMap({ active[$0.requestId] }) {
                request.fail(.internalFailure("the model failed on this batch: \(error)"))
                finish(request.state.id, reason: nil)
            }
            return
        }
        scheduler.complete(output)
        // Each sequence returned all its rows or its last one; keep prompt rows, sample from last rows.
        var rows: [[Float]] = []
        var next = 0
        for (sequence, request) in zip(batch, output.entries.compactMap { active[$0.requestId] }) {
            if sequence.allLogits {
                let all = logits[next ..< next + sequence.tokens.count]
                request.recordPromptLogits(all, start: sequence.start)
                if sequence.wantsLogits, let last = all.last { rows.append(last) }
                next += sequence.tokens.count
            } else if sequence.wantsLogits {
                rows.append(logits[next])
                next += 1
            }
        }
        var finished: [(Int, FinishReason)] = []
        for (request, row) in zip(sampling, rows) {
            if case .parkAfterPrefill = request.handoff {
                park(request, language)
                continue
            }
            if let reason = request.accept(logits: row) { finished.append((request.state.id, reason)) }
        }
        shape.seconds = Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
        scheduler.observe(shape)
        // Reported before the finished requests' streams end, so whoever waits on them sees the step.
        if let onStep = config.onStep {
            shape.admitted = output.admitted
            shape.waiting = scheduler.waiting.map(\.id)
            shape.running = scheduler.running.map(\.id).filter { !output.admitted.contains($0) }
            onStep(shape)
        }
        for (id, reason) in finished { finish(id, reason: reason) }
        publishStatistics(generated: sampling.count)
    }

    /// Requests that ran for the first time leave the admission queue.
    private func dequeue(_ started: [ActiveRequest], preempted: Int) {
        let tokens = started.reduce(0) { $0 + $1.admissionCost }
        // A prompt prefilled by another engine is counted there, once per request.
        let computed = started.reduce(0) { $0 + ($1.promptImported ? 0 : $1.admissionCost) }
        shared.withLock { s in
            s.queuedRequests -= started.count
            s.queuedTokens -= tokens
            s.statistics.promptTokens += computed
            s.statistics.preemptions += preempted
        }
    }

    /// Retires a request: frees its blocks and, with a reason, sends its final event.
    func finish(_ id: Int, reason: FinishReason?) {
        guard let request = active.removeValue(forKey: id) else { return }
        language?.scheduler.finish(id)
        if let images = request.images { imagePipeline?.release(images.imageIDs) }
        if let reason { request.finish(reason) } else { request.continuation.finish() }
        shared.withLock { s in
            s.liveRequests -= 1
            if !request.wasScheduled {
                s.queuedRequests -= 1
                s.queuedTokens -= request.admissionCost
            }
        }
        publishStatistics(generated: 0)
    }

    /// Loop thread only (it reads the scheduler).
    func publishStatistics(generated: Int) {
        publishEncoderStatistics()
        guard let scheduler = language?.scheduler else { return }
        shared.withLock { s in
            s.statistics.generatedTokens += generated
            s.statistics.runningRequests = scheduler.running.count
            s.statistics.waitingRequests = scheduler.waiting.count
            s.statistics.kvCacheUsage = scheduler.blocks.usage
            s.statistics.prefixCacheQueriedTokens = scheduler.prefixQueriedTokens
            s.statistics.prefixCacheHitTokens = scheduler.prefixHitTokens
        }
    }

    /// The encoder cache's counters; any thread.
    func publishEncoderStatistics() {
        let encoder = imagePipeline?.statistics
        shared.withLock { s in
            s.statistics.encodingRequests = s.encoding
            s.statistics.encoderCacheQueries = encoder?.queries ?? 0
            s.statistics.encoderCacheHits = encoder?.hits ?? 0
        }
    }
}

extension LLMEngine {
    /// The placeholder token id of a vision-language model (tests locate image spans with it).
    var imageTokenIdForTesting: Int { imagePipeline?.format.imageTokenId ?? -1 }
}
