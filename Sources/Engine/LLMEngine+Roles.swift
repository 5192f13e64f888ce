import Models

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
    /// The shape of this engine's KV rows.
    public var kvLayout: KVLayout { KVLayout(layers: kvCache.numLayers, rowWidth: kvCache.rowWidth) }

    /// Computes the KV of `prompt` (all positions) and parks its blocks under the returned handle.
    /// The stream ends with a `.finished` event (no tokens) once the KV is parked.
    public func submitPrefill(prompt: [Int]) throws(EngineError)
        -> (handle: Int, events: AsyncThrowingStream<InferenceEvent, any Error>)
    {
        try check(prompt)
        let (id, stream) = try enqueue(prompt: prompt, parameters: SamplingParameters(temperature: 0, maxTokens: 1), handoff: .parkAfterPrefill)
        return (id, stream)
    }

    /// Like `submit(_:)`, with the KV of the prompt's first positions (`kv.positions`, starting at 0
    /// and short of the whole prompt) taken from `kv` instead of computed. A buffer of another layout
    /// or range is ignored and the prompt computed here.
    public func submit(_ request: InferenceRequest, importing kv: KVBuffer) throws(EngineError)
        -> AsyncThrowingStream<InferenceEvent, any Error>
    {
        do { try request.parameters.validate() } catch { throw .invalidRequest(error.message) }
        guard request.images.isEmpty else { throw .invalidRequest("model '\(servedModel.name)' does not accept images") }
        let prompt = switch request.prompt {
        case let .text(text): servedModel.tokenizer.encode(text)
        case let .tokens(ids): ids
        }
        try check(prompt)
        return try enqueue(prompt: prompt, parameters: request.parameters, handoff: .importKV(kv)).stream
    }

    /// Prompt positions whose KV a parked request holds; nil when the handle is unknown or released.
    public func parkedPositions(_ handle: Int) -> Range<Int>? {
        shared.withLock { s in s.parked[handle].map { 0 ..< $0.count } }
    }

    /// Copies a parked request's KV in the flat transfer layout (`kvLayout.byteCount(positions:)`
    /// bytes); false when the handle is unknown or released.
    public func copyParkedKV(_ handle: Int, to buffer: UnsafeMutableRawPointer) -> Bool {
        // Under the lock, so a concurrent release cannot hand the blocks to someone else mid-copy.
        shared.withLock { s in
            guard let request = s.parked[handle] else { return false }
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
    func park(_ request: ActiveRequest) {
        let id = request.state.id
        guard let state = scheduler.detach(id) else { return }
        active[id] = nil
        shared.withLock { s in
            s.parked[id] = state
            s.liveRequests -= 1
        }
        request.finish(.length)
    }

    func releaseParked(_ handles: [Int]) {
        for handle in handles {
            guard let request = shared.withLock({ $0.parked.removeValue(forKey: handle) }) else { continue }
            scheduler.blocks.free(request)
        }
        if !handles.isEmpty { publishStatistics(generated: 0) }
    }

    /// Copies imported KV into fresh blocks before the request is queued; any prefix already cached
    /// here is kept. Without the blocks (or with a mismatched buffer) the prompt is computed here.
    func importKV(_ request: ActiveRequest) {
        guard case let .importKV(kv) = request.handoff else { return }
        let state = request.state
        let end = kv.positions.upperBound
        guard kv.layout == kvLayout, kv.isComplete, kv.positions.lowerBound == 0, end < state.count else { return }
        scheduler.blocks.admit(state)
        let from = state.computedTokens
        guard from < end else { return }
        guard scheduler.blocks.reserve(state, tokens: end - from) else {
            scheduler.blocks.free(state)
            return
        }
        kvCache.copyIn(blockTable: state.blockTable, positions: from ..< end, from: kv.base, bufferPositions: kv.positions)
        state.computedTokens = end
        scheduler.blocks.commit(state)
    }
}
