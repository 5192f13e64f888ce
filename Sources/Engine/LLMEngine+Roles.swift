import Imaging
import Models
import ServingAPI

/// Prefill and decode as separate engines: a prefill engine computes a prompt's KV and parks its
/// blocks; a decode engine admits the request with that KV copied in and generates from there.
///
/// The prefill side computes every prompt position but the last; the decode side runs the last
/// prompt token as its first step, so sampling (seeds, penalties, logprobs, stop strings) happens
/// in one place and greedy outputs equal a single engine's.
///
/// ```swift
/// let (handle, done) = try prefillEngine.submitPrefill(prompt: Array(prompt.dropLast()))
/// for try await _ in done {}
/// let kv = /* buffer filled by prefillEngine.copyParkedKV(handle, to:) */
/// prefillEngine.releaseParkedKV(handle)
/// let events = try decodeEngine.submit(request, importing: kv)
/// ```
extension LLMEngine {
    /// What prompts this engine admits (front ends routing to it check the same).
    public var promptLimits: PromptLimits { PromptLimits(contextLength: servedModel.contextLength, vocabSize: textConfig.vocabSize) }

    /// Positions the KV cache's blocks hold; none without a language model.
    public var kvCapacityTokens: Int { (language?.kvCache.blockCount ?? 0) * config.blockSize }

    /// The shape of this engine's KV rows (a pipeline's first stage keeps only its layers').
    public var kvLayout: KVLayout {
        KVLayout(layers: language?.kvCache.numLayers ?? textConfig.numLayers, rowWidth: textConfig.numKVHeads * textConfig.headDim)
    }

    /// Computes the KV of `prompt` (all positions; with `images`, their placeholders expanded and
    /// encoded here, or found by id among features ``provideEncoded(_:)`` gave) and parks its blocks under the returned handle. The stream ends with a
    /// `.finished` event (no tokens) once the KV is parked; `parkedPrompt` then tells the expanded
    /// prompt a decode engine continues from. With `promptLogprobs`, a `.delta` without tokens
    /// carrying the prompt's log-probabilities (top `promptLogprobs` alternatives) comes first: only
    /// the prefilling engine sees the prompt's logits.
    public func submitPrefill(prompt: [Int], images: [ImageReference] = [], sloClass: String? = nil, promptLogprobs: Int? = nil) throws(EngineError)
        -> (handle: Int, events: AsyncThrowingStream<InferenceEvent, any Error>)
    {
        try check(prompt)
        let parameters = SamplingParameters(temperature: 0, maxTokens: 1, promptLogprobs: promptLogprobs)
        do { try parameters.validate() } catch { throw .invalidRequest(error.message) }
        let (id, stream) = images.isEmpty
            ? try enqueue(prompt: prompt, parameters: parameters, sloClass: sloClass, handoff: .parkAfterPrefill)
            : try enqueue(prompt: prompt, images: images, parameters: parameters, sloClass: sloClass, handoff: .parkAfterPrefill)
        return (id, stream)
    }

    /// Generates from `prompt` (token ids, image placeholders already expanded, with the images'
    /// spans so the prefix cache tells images apart) with the KV of its first positions taken from
    /// `kv` instead of computed; the positions `kv` lacks are computed here. A text prompt whose KV
    /// cannot be taken (another layout, no free blocks) is computed here; an image prompt then
    /// fails, since its features are not here. An M-RoPE image prompt needs `kv.mropeDelta`.
    public func submitDecode(prompt: [Int], imageSpans: [ImageSpan] = [], parameters: SamplingParameters, sloClass: String? = nil, importing kv: KVBuffer)
        throws(EngineError) -> AsyncThrowingStream<InferenceEvent, any Error>
    {
        do { try parameters.validate() } catch { throw .invalidRequest(error.message) }
        try check(prompt)
        guard kv.positions.upperBound >= imageSpans.map({ $0.offset + $0.length }).max() ?? 0 else {
            throw .invalidRequest("the handed-over KV does not cover the prompt's images")
        }
        let usesMRoPE = imagePipeline?.format.usesMRoPE ?? false
        if kv.mropeDelta != nil, !usesMRoPE {
            throw .invalidRequest("the handed-over KV has M-RoPE positions, but model '\(servedModel.name)' does not use them")
        }
        if usesMRoPE, !imageSpans.isEmpty, kv.mropeDelta == nil {
            throw .invalidRequest("the handed-over KV of an image prompt lacks its M-RoPE position offset (rope_deltas)")
        }
        return try enqueue(prompt: prompt, imageSpans: imageSpans, parameters: parameters, sloClass: sloClass, handoff: .importKV(kv)).stream
    }

    /// The prompt (image placeholders expanded), image spans and M-RoPE position offset (Qwen2-VL's
    /// `rope_deltas`; nil for 1-D positions) of a parked request: what a decode engine continues from.
    public func parkedPrompt(_ handle: Int) -> (tokens: [Int], images: [ImageSpan], mropeDelta: Int?)? {
        shared.withLock { s in s.parked[handle].map { ($0.request.tokens, $0.request.images, $0.mropeDelta) } }
    }

    /// Prompt positions whose KV a parked request holds; nil when the handle is unknown or released.
    public func parkedPositions(_ handle: Int) -> Range<Int>? {
        shared.withLock { s in s.parked[handle].map { 0 ..< $0.request.count } }
    }

    /// Copies a parked request's KV in the flat transfer layout (`kvLayout.byteCount(positions:)`
    /// bytes); false when the handle is unknown or released.
    public func copyParkedKV(_ handle: Int, to buffer: UnsafeMutableRawPointer) -> Bool {
        // Under the lock, so a concurrent release cannot hand the blocks to someone else mid-copy.
        shared.withLock { s in
            guard let request = s.parked[handle]?.request, let kvCache = language?.kvCache else { return false }
            kvCache.copyOut(blockTable: request.blockTable, positions: 0 ..< request.count, to: buffer)
            return true
        }
    }

    /// Frees a parked request's blocks (their full blocks stay in the prefix cache until reused).
    public func releaseParkedKV(_ handle: Int) {
        shared.withLock { s in
            guard s.parked[handle] != nil else { return }
            s.releases.append(handle)
        }
        signal()
    }

    /// Requests whose KV is parked and not yet released.
    public var parkedCount: Int { shared.withLock { $0.parked.count } }

    /// Moves a request whose prompt KV is complete out of the batch, keeping its blocks.
    func park(_ request: ActiveRequest, _ language: LanguageSide) {
        let id = request.state.id
        guard let state = language.scheduler.detach(id) else { return }
        active[id] = nil
        // The KV holds what the features contributed; the encoder cache need not pin them any more.
        if let images = request.images { imagePipeline?.release(images.imageIDs) }
        shared.withLock { s in
            // A decode engine lacks the images' grids; the offset is all its M-RoPE positions need.
            s.parked[id] = ParkedPrompt(request: state, mropeDelta: request.mrope?.delta)
            s.liveRequests -= 1
        }
        request.sendPromptLogprobs()
        request.finish(.length)
    }

    func releaseParked(_ handles: [Int], _ language: LanguageSide) {
        for handle in handles {
            guard let parked = shared.withLock({ $0.parked.removeValue(forKey: handle) }) else { continue }
            language.scheduler.blocks.free(parked.request)
        }
        if !handles.isEmpty { publishStatistics(generated: 0) }
    }

    /// Hands an arrived request to the scheduler; imported KV goes into blocks the scheduler
    /// allocates, any prefix already cached here kept. Without the blocks (or with a mismatched
    /// buffer) a text prompt is computed here, and an image prompt fails: its features are not here.
    func queue(_ request: ActiveRequest, _ language: LanguageSide) {
        let state = request.state
        guard case let .importKV(kv) = request.handoff else { return language.scheduler.add(state) }
        guard kv.layout == kvLayout, kv.isComplete, kv.positions.lowerBound == 0 else {
            return computeHere(request, language, or: .invalidRequest("the handed-over KV of an image prompt does not fit this engine's cache layout"))
        }
        // The last prompt token always runs here: its logits pick the first output token.
        let end = min(kv.positions.upperBound, state.count - 1)
        let imported = language.scheduler.add(state, importing: end, copy: { language.copyBlocks([$0]) }) { table, positions in
            language.kvCache.copyIn(blockTable: table, positions: positions, from: kv.base, bufferPositions: kv.positions)
        }
        if imported { request.promptImported = true } else { computeHere(request, language, or: .overloaded(retryAfterSeconds: 1)) }
    }

    /// Queues a request whose KV could not be imported to compute its prompt here: a text prompt
    /// can; an image prompt fails with `error`.
    private func computeHere(_ request: ActiveRequest, _ language: LanguageSide, or error: EngineError) {
        guard !request.state.images.isEmpty else { return language.scheduler.add(request.state) }
        request.fail(error)
        finish(request.state.id, reason: nil)
    }
}

/// A prefilled prompt whose KV blocks wait for a decode engine, with what continuing it needs
/// besides the KV: Qwen2-VL's M-RoPE offset (`rope_deltas`) of an image prompt.
struct ParkedPrompt {
    let request: EngineRequest
    let mropeDelta: Int?
}
