import Cluster
import CoreUtilities
import Foundation
import Imaging
import ServingAPI
import WireProtocol

/// Serving one request through the workers: route, prefill, hand the KV to decode, relay tokens,
/// and retry on a sibling when a worker is lost.
extension ClusterFrontEnd {
    public func submit(_ request: InferenceRequest) throws(EngineError) -> AsyncThrowingStream<InferenceEvent, any Error> {
        do { try request.parameters.validate() } catch { throw .invalidRequest(error.message) }
        // The workers' batch policy schedules by the class; an unknown one is refused before anything starts.
        let objective: LatencySLO
        do { objective = try options.sloClasses.objective(for: request.sloClass) } catch { throw .invalidRequest(error.description) }
        let model = servedModel
        guard request.images.isEmpty || model.imagePlaceholder != nil else {
            throw .invalidRequest("model '\(model.name)' does not accept images")
        }
        let prompt = switch request.prompt {
        case let .text(text): model.tokenizer.encode(text)
        case let .tokens(ids): ids
        }
        let images = request.images
        let sloClass = (request.sloClass, objective)
        try shared.withLock { $0.limits }.check(prompt)
        var parameters = request.parameters
        // A retry replays the request from its start; a fixed seed makes sampled tokens replay too.
        if parameters.seed == nil { parameters.seed = UInt64.random(in: .min ... .max) }
        let (stream, continuation) = AsyncThrowingStream<InferenceEvent, any Error>.makeStream()
        let (inbox, events) = AsyncStream<SlotEvent>.makeStream()
        let id = try shared.withLock { (s: inout State) throws(EngineError) -> Int in
            try checkQueues(s, cost: prompt.count)
            let id = s.nextRequestId
            s.nextRequestId += 1
            s.queuedRequests += 1
            s.queuedTokens += prompt.count
            s.requests[id] = RequestChannel(events: events, promptTokens: prompt.count)
            return id
        }
        let task = Task { [self] in
            await serve(id, prompt: prompt, images: images, parameters: parameters, sloClass: sloClass, inbox: inbox, to: continuation)
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { task.cancel() }
        }
        return stream
    }

    private func serve(_ id: Int, prompt: [Int], images: [RGBImage], parameters: SamplingParameters, sloClass: (name: String?, objective: LatencySLO), inbox: AsyncStream<SlotEvent>,
                       to client: AsyncThrowingStream<InferenceEvent, any Error>.Continuation) async {
        var events = inbox.makeAsyncIterator()
        var delivered: [Int] = []
        let request = PendingRequest(prompt: prompt, images: images, parameters: parameters, sloClass: sloClass.name, slo: sloClass.objective,
                                     blockSize: shared.withLock { $0.blockSize })
        defer { close(id) }
        for round in 0 ... topology.maxRetries {
            do {
                try await withTaskCancellationHandler {
                    try await attempt(id, request, events: &events, delivered: &delivered, client: client)
                } onCancel: {
                    abandon(id)
                }
                return
            } catch let lost as WorkerLost {
                guard round < topology.maxRetries, !Task.isCancelled else {
                    logger.error("request failed: its worker was lost and no retry is left", metadata: [
                        "request": "\(id)", "lost_slot": "\(lost.slot)", "retries": "\(round)",
                    ])
                    client.finish(throwing: EngineError.internalFailure(
                        "worker \(lost.slot) failed while serving the request, and \(topology.maxRetries) retries on other workers did not finish it"))
                    return
                }
                // The retry prefills anew: KV the failed try parked and no decode worker took is freed now
                // rather than when the prefill worker's parked-KV timeout passes.
                releaseParked(id)
                shared.withLock { $0.retries += 1 }
                logger.info("request retried on another worker", metadata: [
                    "request": "\(id)", "lost_slot": "\(lost.slot)", "retry": "\(round + 1)", "max_retries": "\(topology.maxRetries)",
                ])
            } catch {
                client.finish(throwing: error)
                return
            }
        }
    }

    /// One try: route, prefill (when the group disaggregates), decode. Tokens a previous try already
    /// delivered are checked against the replay and not sent again. Prompt log-probabilities come
    /// from whichever worker computes the prompt: the prefill worker's go out with the decode
    /// worker's first token, or alone when no token was asked for (`maxTokens` 0: decode is skipped).
    private func attempt(
        _ id: Int, _ request: PendingRequest, events: inout AsyncStream<SlotEvent>.AsyncIterator,
        delivered: inout [Int], client: AsyncThrowingStream<InferenceEvent, any Error>.Continuation
    ) async throws {
        let route = try await chooseRoute(id, request)
        var job = GenerateJob(prompt: request.prompt, parameters: request.parameters, kvSource: nil, sloClass: request.sloClass)
        // Prompt tokens the prefill worker found in its prefix cache; nil when the decode worker computes the prompt.
        var prefillCached: Int?
        // The prefill worker holding the prompt's KV until the decode worker pulls it.
        var kvHolder: (slot: Int, connection: Connection?)?
        var promptLogprobs: [TokenLogprobs]?
        // Where each image was preprocessed and encoded, when not on the decode worker (whose finish has no image timings then).
        var imageTimings: [ImageStageTimings]?
        let (sources, encodeTimings) = try await encode(id, request, on: route.encode, events: &events)
        if let prefill = route.prefill, request.prompt.count > 1 || !request.images.isEmpty {
            // Nothing is pushed for a request that will not decode (prompt log-probabilities only).
            let decodes = request.parameters.promptLogprobs == nil || request.parameters.maxTokens > 0
            let pushTo = topology.kvHandoff == .push && decodes ? shared.withLock { $0.slots[route.decode].hello?.transfer } : nil
            job.kvPushed = pushTo != nil
            // Pixels go only where they are encoded: the prefill worker pulls the others' features by id.
            let pulled = Set(sources.flatMap(\.imageIDs))
            let (images, pixels) = WireImages.pack(request.images) { !pulled.contains($0.id) }
            let endpoint = try assign(id, to: prefill, tokens: request.prompt.count - route.reusedTokens, decoding: false,
                                      message: .prefill(request: id, tokens: request.prompt, images: images, featureSources: sources, pushTo: pushTo,
                                                        sloClass: request.sloClass, promptLogprobs: request.parameters.promptLogprobs),
                                      payload: pixels)
            wait: while true {
                guard let next = await events.next() else { throw CancellationError() }
                guard next.slot == prefill else { continue }
                switch next.event {
                case let .delta(delta): promptLogprobs = delta.promptLogprobs
                case let .prefilled(handle, _, cached, expanded, spans, timings):
                    // The prefill worker found the encode workers' images in its cache; their time went there.
                    imageTimings = timings.indices.map { encodeTimings[$0] ?? timings[$0] }
                    job.kvSource = KVSource(endpoint: endpoint, handle: handle)
                    job.prompt = expanded
                    job.imageSpans = spans
                    prefillCached = cached
                    kvHolder = shared.withLock { s in
                        s.requests[id]?.parked = (prefill, handle)
                        return (prefill, s.slots[prefill].connection)
                    }
                    rememberPrefill(request, on: prefill)
                    break wait
                case let .failed(error): throw retryable(error, slot: prefill)
                case .workerLost: throw WorkerLost(slot: prefill)
                default: continue
                }
            }
            unassign(id, from: prefill)
            if request.parameters.promptLogprobs != nil {
                guard request.parameters.maxTokens > 0 else { return finishWithPrompt(id, request, promptLogprobs ?? [], client: client) }
                var parameters = request.parameters
                parameters.promptLogprobs = nil
                job.parameters = parameters
            }
        }
        var payload = Data()
        if job.kvSource == nil {
            (job.images, payload) = WireImages.pack(request.images)
        }
        // With its prompt's KV handed over it decodes at once; a worker that computes the prompt
        // (mono) holds it as pending prefill until its first token, as the simulator counts it.
        _ = try assign(id, to: route.decode, tokens: request.prompt.count - (job.kvSource == nil ? route.reusedTokens : 0), decoding: job.kvSource != nil,
                       message: .generate(request: id, job), payload: payload)
        var position = 0
        while let next = await events.next() {
            guard next.slot == route.decode else { continue }
            switch next.event {
            case let .delta(delta):
                shared.withLock { s in
                    s.requests[id]?.parked = nil
                    if !delta.tokenIds.isEmpty { s.slots[route.decode].decoding.insert(id) }
                }
                if position == 0, prefillCached == nil { rememberPrefill(request, on: route.decode) }
                var fresh = delta
                // A delta without tokens (prompt log-probabilities, text held back) is new unless the replay is still behind.
                let replayed = position < delivered.count
                for token in delta.tokenIds {
                    if position < delivered.count {
                        guard delivered[position] == token else {
                            throw EngineError.internalFailure("a worker failed mid-stream and the retry diverged from the tokens already sent")
                        }
                        fresh.tokenIds.removeFirst()
                    }
                    position += 1
                }
                guard delta.tokenIds.isEmpty ? !replayed : !fresh.tokenIds.isEmpty else { continue }
                if fresh.tokenIds.count < delta.tokenIds.count {
                    fresh.logprobs = Array(delta.logprobs.suffix(fresh.tokenIds.count))
                    fresh.promptLogprobs = nil
                }
                if delivered.isEmpty, let promptLogprobs { fresh.promptLogprobs = promptLogprobs }
                delivered += fresh.tokenIds
                generated(id, tokens: fresh.tokenIds.count)
                client.yield(.delta(fresh))
            case var .finished(info):
                unassign(id, from: route.decode)
                // The prompt's cache hits and its images' work happened where it was prefilled.
                if let prefillCached { info.cachedTokens = prefillCached }
                if let imageTimings { info.timings.images = imageTimings }
                finished(id, outputTokens: info.completionTokens)
                client.yield(.finished(info))
                client.finish()
                return
            case let .failed(error):
                // Before its first token the decode worker was pulling the prompt's KV.
                if case .internalFailure = error, position == 0, let kvHolder, await isLost(kvHolder) { throw WorkerLost(slot: kvHolder.slot) }
                throw retryable(error, slot: route.decode)
            case .workerLost: throw WorkerLost(slot: route.decode)
            case .prefilled, .encoded: continue
            }
        }
        throw CancellationError()
    }

    /// Answers a request that asked for its prompt's log-probabilities and no tokens: the prefill
    /// worker computed them; the KV it parked is released unused when the request closes.
    private func finishWithPrompt(_ id: Int, _ request: PendingRequest, _ promptLogprobs: [TokenLogprobs],
                                  client: AsyncThrowingStream<InferenceEvent, any Error>.Continuation) {
        let arrival = shared.withLock { $0.requests[id]?.arrival ?? .now }
        generated(id, tokens: 0)
        finished(id, outputTokens: 0)
        var timings = RequestTimings()
        timings.firstToken = (ContinuousClock.now - arrival).seconds
        timings.total = timings.firstToken
        client.yield(.delta(TokenDelta(tokenIds: [], text: "", promptLogprobs: promptLogprobs)))
        client.yield(.finished(FinishInfo(reason: .length, promptTokens: request.prompt.count, completionTokens: 0, cachedTokens: 0, timings: timings)))
        client.finish()
    }

    /// EPD's encode stage: the images go to encode workers as the dispatcher splits them (one
    /// shard per worker), and the prefill worker later pulls each shard's features from its worker.
    /// Returns the shards' sources and the encode workers' timings by image index.
    private func encode(
        _ id: Int, _ request: PendingRequest, on shards: [EncodeShard], events: inout AsyncStream<SlotEvent>.AsyncIterator
    ) async throws -> (sources: [FeatureSource], timings: [Int: ImageStageTimings]) {
        var waiting: [Int: (endpoint: Endpoint, images: [ImageID], indices: [Int])] = [:]
        for shard in shards {
            let images = shard.imageIndices.map { request.images[$0] }
            let (wire, pixels) = WireImages.pack(images)
            waiting[shard.instance] = (try assign(id, to: shard.instance, tokens: shard.tokens, decoding: false,
                                                  message: .encode(request: id, images: wire), payload: pixels), images.map(\.id), shard.imageIndices)
        }
        var sources: [FeatureSource] = []
        var timings: [Int: ImageStageTimings] = [:]
        while !waiting.isEmpty {
            guard let next = await events.next() else { throw CancellationError() }
            guard let (endpoint, expected, indices) = waiting[next.slot] else { continue }
            switch next.event {
            case let .encoded(ids, shardTimings):
                // The worker holds the features under the ids the handler computed, or the prefill worker could not find them.
                guard ids == expected else {
                    throw EngineError.internalFailure("encode worker \(next.slot) named the images \(ids) it was sent as \(expected)")
                }
                sources.append(FeatureSource(endpoint: endpoint, imageIDs: ids))
                for (index, timing) in zip(indices, shardTimings) { timings[index] = timing }
                waiting[next.slot] = nil
                unassign(id, from: next.slot)
            case let .failed(error): throw retryable(error, slot: next.slot)
            case .workerLost: throw WorkerLost(slot: next.slot)
            default: continue
            }
        }
        return (sources, timings)
    }

    /// Failures caused by another worker going away (a pull from a dead prefill worker) are retried.
    private func retryable(_ error: EngineError, slot: Int) -> any Error {
        if case .internalFailure = error { return WorkerLost(slot: slot) }
        return error
    }

    /// Whether the worker that was in `slot` on `connection` is gone or going: its connection
    /// closes within the heartbeat timeout. A decode worker whose KV pull failed because its prefill
    /// worker died can report the failure before the front end sees the death; waiting for it
    /// makes the retry prefill anew on a live (or the relaunched) prefill worker, and charges the
    /// loss to the prefill worker, rather than counting the decode worker lost and sending the
    /// retry straight back to the dying slot.
    private func isLost(_ worker: (slot: Int, connection: Connection?)) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(topology.heartbeatTimeoutMs)
        while true {
            let gone = shared.withLock { s in worker.connection == nil || s.slots[worker.slot].connection !== worker.connection
                || s.slots[worker.slot].phase != .active }
            if gone { return true }
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Picks the workers for a request's next try with the topology's router, waiting while no
    /// worker of the request's group can serve (all restarting or switching).
    private func chooseRoute(_ id: Int, _ request: PendingRequest) async throws -> Route {
        let info = arrived(id, request)
        let deadline = ContinuousClock.now + options.routeTimeout
        while true {
            if let route = shared.withLock({ s in pickRoute(info, s) }) {
                if let observe = options.onRoutingDecision {
                    route.encode.forEach { observe(RoutingDecision(request: id, stage: .encode, instance: $0.instance, images: $0.imageIndices)) }
                    if let prefill = route.prefill { observe(RoutingDecision(request: id, stage: .prefill, instance: prefill)) }
                    observe(RoutingDecision(request: id, stage: route.prefill == nil ? .prefill : .decode, instance: route.decode))
                }
                return route
            }
            guard ContinuousClock.now < deadline else {
                throw EngineError.overloaded(retryAfterSeconds: 5)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Where a request's stages run: encode shards (images only, when the group has encode
    /// workers), a prefill worker (nil: a mono worker runs everything), and the decode worker.
    struct Route {
        var encode: [EncodeShard] = []
        var prefill: Int?
        var decode: Int
        /// Prompt tokens the worker that computes the prompt is known to hold (``ClusterView/reusedPrefixTokens(of:on:)``):
        /// its pending prefill counts the rest, as the simulator's instance does.
        var reusedTokens = 0
    }

    /// The request as the policies see it, in the simulator's units: image tokens by the workers'
    /// image-token rule, the objective of its SLO class, the predicted output length. Counted once in every
    /// planner's load window, whatever its retries.
    private func arrived(_ id: Int, _ request: PendingRequest) -> RequestInfo {
        shared.withLock { s in
            if let info = s.requests[id]?.info { return info }
            let rule = s.imageTokenRule
            let images = request.images.map { image in
                ImageInput(width: image.width, height: image.height, tokens: rule?.tokens(width: image.width, height: image.height) ?? 0, id: image.id)
            }
            // As a worker's engine predicts: from the prompt's text and its length with each image placeholder expanded.
            let predicted = options.outputLengthPredictor.map { predictor in
                min(request.parameters.maxTokens, predictor.predictedTokens(
                    prompt: s.servedModel.tokenizer.decode(request.prompt, skipSpecialTokens: true),
                    promptTokens: request.prompt.count + images.reduce(0) { $0 + max(0, $1.tokens - 1) }))
            }
            var info = RequestInfo(id: id, arrival: clock(), textTokens: request.prompt.count, images: images,
                                   slo: request.slo, predictedOutputTokens: predicted ?? request.parameters.maxTokens)
            info.promptBlockHashes = request.blockHashes
            s.requests[id]?.info = info
            s.schedule.arrived(info)
            return info
        }
    }

    /// Each stage from the candidates of the one shared filter (``ClusterView/candidates(for:group:)``),
    /// as the simulator routes: a prefill-capable worker, then, unless it decodes too (mono), a decode
    /// worker, and encode shards for the images when encode workers exist.
    private func pickRoute(_ info: RequestInfo, _ s: State) -> Route? {
        let view = liveCluster(s)
        guard let p = router.route(info, to: .prefill, candidates: view.candidates(for: .prefill, group: info.group), in: view) else { return nil }
        let reused = view.reusedPrefixTokens(of: info, on: p)
        if view.instances[p].role.runs(.decode) { return Route(decode: p, reusedTokens: reused) }
        guard let d = router.route(info, to: .decode, candidates: view.candidates(for: .decode, group: info.group), in: view) else { return nil }
        let encoders = info.images.isEmpty ? [] : view.candidates(for: .encode, group: info.group)
        return Route(encode: dispatcher.shards(for: info, candidates: encoders, in: view), prefill: p, decode: d, reusedTokens: reused)
    }

    /// Records the request on a worker and sends it the work; returns the worker's transfer endpoint.
    private func assign(_ id: Int, to slot: Int, tokens: Int, decoding: Bool, message: WireMessage, payload: Data = Data()) throws -> Endpoint {
        let target = shared.withLock { s -> (Connection, Endpoint)? in
            guard let connection = s.slots[slot].connection, let hello = s.slots[slot].hello else { return nil }
            s.slots[slot].assigned[id] = tokens
            if decoding { s.slots[slot].decoding.insert(id) }
            s.requests[id]?.slot = slot
            return (connection, hello.transfer)
        }
        guard let (connection, endpoint) = target else { throw WorkerLost(slot: slot) }
        do { try connection.send(message, payload: payload) } catch { throw WorkerLost(slot: slot) }
        return endpoint
    }

    /// The worker in `slot` computed the request's prompt: its images and prompt blocks are in its caches now.
    private func rememberPrefill(_ request: PendingRequest, on slot: Int) {
        shared.withLock { s in
            s.cachedImages[slot, default: []].formUnion(request.imageIDs)
            guard let hello = s.slots[slot].hello else { return }
            s.cachedPrefixes[slot, default: PrefixCacheIndex(capacityBlocks: hello.kvCapacityTokens / max(1, hello.blockSize), blockSize: hello.blockSize)]
                .record(request.blockHashes)
        }
    }

    private func unassign(_ id: Int, from slot: Int) {
        shared.withLock { s in
            s.slots[slot].assigned[id] = nil
            s.slots[slot].decoding.remove(id)
        }
    }

    private func generated(_ id: Int, tokens: Int) {
        shared.withLock { s in
            guard let channel = s.requests[id] else { return }
            s.requests[id]?.generated += tokens
            guard channel.waitingForFirstToken else { return }
            s.requests[id]?.waitingForFirstToken = false
            s.requests[id]?.firstTokenAt = .now
            s.queuedRequests -= 1
            s.queuedTokens -= channel.promptTokens
        }
    }

    /// The request finished: the fleet schedule counts whether it met its SLO.
    private func finished(_ id: Int, outputTokens: Int) {
        shared.withLock { s in
            guard let channel = s.requests[id], let info = channel.info, !channel.counted else { return }
            s.requests[id]?.counted = true
            let first = channel.firstTokenAt ?? .now
            let met = info.slo.isMet(ttft: (first - channel.arrival).seconds, duration: (ContinuousClock.now - first).seconds,
                                     outputTokens: outputTokens)
            s.schedule.finished(met: met)
            s.countSLO(met: met, group: channel.slot.map { s.slots[$0].group } ?? info.group)
        }
    }

    /// The client left: abort the request where it runs and free KV parked for it.
    private func abandon(_ id: Int) {
        let target = shared.withLock { s -> (Connection, Int)? in
            s.requests[id]?.slot.flatMap { slot in s.slots[slot].connection.map { ($0, id) } }
        }
        if let (connection, id) = target { try? connection.send(.abort(request: id)) }
        releaseParked(id)
    }

    /// Frees the KV parked for the request on its prefill worker, unless a decode worker took it
    /// (its first token clears the record; a release after a pull is a no-op on the worker).
    private func releaseParked(_ id: Int) {
        let parked = shared.withLock { s -> (Connection, Int)? in
            guard let p = s.requests[id]?.parked else { return nil }
            s.requests[id]?.parked = nil
            return s.slots[p.slot].connection.map { ($0, p.handle) }
        }
        if let (connection, handle) = parked { try? connection.send(.releaseKV(handle: handle)) }
    }

    /// Forgets a request: releases KV parked for it that no decode worker pulled, and its queue slot.
    private func close(_ id: Int) {
        releaseParked(id)
        shared.withLock { s in
            guard let channel = s.requests.removeValue(forKey: id) else { return }
            channel.events.finish()
            // A request that failed or was abandoned missed its SLO.
            if let info = channel.info, !channel.counted {
                s.schedule.finished(met: false)
                s.countSLO(met: false, group: channel.slot.map { s.slots[$0].group } ?? info.group)
            }
            if channel.waitingForFirstToken {
                s.queuedRequests -= 1
                s.queuedTokens -= channel.promptTokens
            }
            for slot in s.slots.indices {
                s.slots[slot].assigned[id] = nil
                s.slots[slot].decoding.remove(id)
            }
        }
    }
}
