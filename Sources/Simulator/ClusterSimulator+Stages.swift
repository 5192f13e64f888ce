import Cluster

extension ClusterSimulator {
    func arrive(_ r: Int) {
        let info = requests[r].info
        schedule.arrived(info)
        guard !info.images.isEmpty else { return dispatchPrefill(r, inline: false) }
        let encoders = candidates(.encode, info.group)
        guard !encoders.isEmpty else { return dispatchPrefill(r, inline: true) }
        var shards = dispatcher.shards(for: info, candidates: encoders, in: self)
        record(shards.map { RoutingDecision(request: r, stage: .encode, instance: $0.instance, images: $0.imageIndices) })
        if system.prefixCache {
            // Shards whose images sit in the encoder's cache need no encoding.
            shards = shards.compactMap { shard in
                let all = shard.imageIndices.reduce(0) { $0 + info.images[$1].tokens }
                let missing = shard.imageIndices.reduce(0) { $0 + (fleet[shard.instance].encoderCache.contains(info.images[$1].id) ? 0 : info.images[$1].tokens) }
                guard missing > 0, all > 0 else { return nil }
                var s = shard
                s.tokens = max(1, shard.tokens * missing / all)
                return s
            }
        }
        requests[r].shardsLeft = shards.count
        guard !shards.isEmpty else { return encoded(r) }
        for shard in shards {
            let inst = fleet[shard.instance]
            inst.encodeQueue.append(.init(request: r, tokens: shard.tokens, imageIndices: shard.imageIndices))
            inst.pendingImageTokens += shard.tokens
            refresh(shard.instance)
            kick(shard.instance)
        }
    }

    /// All shards encoded: ship the embeddings to the prefill side.
    func encoded(_ r: Int) {
        let bytes = Double(requests[r].info.imageTokens) * cost.transfer.bytesPerImageToken
        events.push(.encoded(r), at: now + cost.transferSeconds(bytes: bytes))
    }

    func dispatchPrefill(_ r: Int, inline: Bool) {
        let info = requests[r].info
        let pool = candidates(.prefill, info.group)
        guard let target = router.route(info, to: .prefill, candidates: pool, in: self) else {
            requests[r].inlineTokens = inline ? -1 : 0
            parked.append(r)
            return
        }
        record([RoutingDecision(request: r, stage: .prefill, instance: target)])
        let inst = fleet[target]
        var imageTokens = 0.0, inlineTokens = 0, inlineImages = 0
        for image in info.images {
            if system.prefixCache && inst.prefixCache.contains(image.id) { continue }
            imageTokens += Double(image.tokens)
            if inline && !(system.prefixCache && inst.encoderCache.contains(image.id)) {
                inlineTokens += image.tokens
                inlineImages += 1
            }
        }
        requests[r].imagePrefillTokens = imageTokens * cost.prefill.imageTokenWeight
        requests[r].reusedTokens = reusedPrefixTokens(of: info, on: target)
        requests[r].prefillTokens = prefillTokens(of: requests[r])
        requests[r].inlineTokens = inlineTokens
        requests[r].inlineImages = inlineImages
        inst.prefillQueue.push(r, key: batcher.priority(of: requests[r].queued))
        inst.pendingPrefillTokens += requests[r].prefillTokens
        inst.pendingImageTokens += inlineTokens
        refresh(target)
        if inst.decodeRun != nil { interrupt(target) } else { kick(target) }
    }

    /// Prompt tokens `request` computes: its text less the reused prefix, plus its weighted image tokens; at least one.
    func prefillTokens(of request: SimulatedRequest) -> Int {
        max(1, Int((Double(request.info.textTokens - request.reusedTokens) + request.imagePrefillTokens).rounded(.up)))
    }

    /// Request `r`, about to be admitted on `inst`, reuses the text prefix cached there now (as the
    /// engine looks its prompt up at admission): more than when it was routed if a request with
    /// the same prefix finished its prompt meanwhile.
    func reusePrefix(_ r: Int, on inst: SimulatedInstance) {
        let reused = reusedPrefixTokens(of: requests[r].info, on: inst.id)
        guard reused != requests[r].reusedTokens else { return }
        let before = requests[r].prefillTokens
        requests[r].reusedTokens = reused
        requests[r].prefillTokens = prefillTokens(of: requests[r])
        inst.pendingPrefillTokens += requests[r].prefillTokens - before
    }

    /// Starts the next piece of work on an idle instance.
    func kick(_ i: Int) {
        let inst = fleet[i]
        guard !inst.busy else { return }
        guard inst.phase == .active || inst.phase == .draining else { return }
        switch inst.role {
        case .encode:
            startEncode(i)
        case .prefill, .encodePrefill:
            startPrefill(i)
        case .decode:
            startDecode(i)
        case .mono:
            if staticBatching {
                startStatic(i)
            } else if chunkedPrefill {
                if !startMixedStep(i) { startDecode(i) }
            } else if !startPrefill(i) {
                startDecode(i)
            }
        case .image:
            kickImages(i)
        case .controlnet:
            // Answers residual calls; their cost is in the image workers' steps.
            break
        }
        if inst.phase == .draining && !inst.hasWork { beginSwitch(i) }
    }

    func startEncode(_ i: Int) {
        let inst = fleet[i]
        guard inst.queuedEncodeJobs > 0 else { return }
        var tokens = 0, images = 0
        inst.inFlightJobs.removeAll(keepingCapacity: true)
        while let job = inst.encodeQueue.first {
            if !inst.inFlightJobs.isEmpty && tokens + job.tokens > cost.encode.maxBatchTokens { break }
            inst.encodeQueue.removeFirst()
            tokens += job.tokens
            images += job.imageIndices.count
            inst.inFlightJobs.append(job)
        }
        inst.busy = true
        events.push(.encodeDone(i, inst.version), at: now + cost.encodeSeconds(images: images, tokens: tokens))
    }

    func finishEncode(_ i: Int) {
        let inst = fleet[i]
        inst.busy = false
        for job in inst.inFlightJobs {
            inst.pendingImageTokens -= job.tokens
            let info = requests[job.request].info
            if system.prefixCache { for k in job.imageIndices { inst.encoderCache.touch(info.images[k].id, (), cost: info.images[k].tokens) } }
            requests[job.request].shardsLeft -= 1
            if requests[job.request].shardsLeft == 0 { encoded(job.request) }
        }
        inst.inFlightJobs.removeAll(keepingCapacity: true)
        refresh(i)
        kick(i)
    }

    /// Forms and starts a prefill batch; false when nothing could start.
    @discardableResult
    func startPrefill(_ i: Int) -> Bool {
        let inst = fleet[i]
        var batch = BatchSoFar()
        var chosen: [Int] = []
        // The policy sees whole prompts (`batch`); the step computes what caches leave (`computed`).
        var squares = 0.0, computed = 0, inlineTokens = 0, inlineImages = 0, kv = 0
        let reserves = inst.role.runs(.decode)
        while let r = inst.prefillQueue.peek() {
            if dropIfNeverFits(r, on: inst) { continue }
            reusePrefix(r, on: inst)
            let req = requests[r]
            let q = req.queued
            if !chosen.isEmpty && !batcher.admits(q, into: batch, limits: limits) { break }
            let need = reserves ? req.kvTokens : req.info.promptTokens
            if (reserves ? inst.kvUsed : 0) + kv + need > cost.memory.kvCapacityTokens { break }
            _ = inst.prefillQueue.pop()
            batch.add(q)
            chosen.append(r)
            kv += need
            computed += req.prefillTokens
            squares += Double(req.prefillTokens) * Double(req.reusedTokens + req.prefillTokens)
            inlineTokens += req.inlineTokens
            inlineImages += req.inlineImages
        }
        guard !chosen.isEmpty else { refresh(i); return false }
        record(admitted: chosen, on: i)
        if reserves { inst.kvUsed += kv }
        inst.inFlight = chosen
        inst.busy = true
        let seconds = inlineEncodeSeconds(images: inlineImages, tokens: inlineTokens)
            + split(cost.prefillSeconds(tokens: Double(computed), squaredLengths: squares), tokens: computed, logitRows: chosen.count)
        events.push(.prefillDone(i, inst.version), at: now + seconds)
        refresh(i)
        return true
    }

    func finishPrefill(_ i: Int) {
        let inst = fleet[i]
        inst.busy = false
        let batch = inst.inFlight
        inst.inFlight.removeAll(keepingCapacity: true)
        for r in batch {
            inst.pendingPrefillTokens -= requests[r].prefillTokens
            promptDone(r, on: inst)
            if system.firstTokenOnDecode && !inst.role.runs(.decode) {
                // The decode instance's first step computes the last prompt token and samples token one.
                requests[r].firstToken = -1
                requests[r].decoded = -1
            }
            let info = requests[r].info
            if requests[r].remaining <= 0 {
                if inst.role.runs(.decode) { inst.kvUsed -= requests[r].kvTokens }
                complete(r)
            } else if inst.role.runs(.decode) {
                requests[r].joinStep = inst.steps
                inst.running.append(r)
                inst.context += info.promptTokens
            } else {
                dispatchDecode(r, tokens: info.promptTokens)
            }
        }
        refresh(i)
        kick(i)
    }

    /// Fails request `r`, the head of `inst`'s prefill queue, when its KV cache can never fit, rather
    /// than let it block the queue; true when it did.
    func dropIfNeverFits(_ r: Int, on inst: SimulatedInstance) -> Bool {
        let req = requests[r]
        guard req.kvTokens > cost.memory.kvCapacityTokens else { return false }
        _ = inst.prefillQueue.pop()
        inst.pendingPrefillTokens -= req.prefillTokens
        inst.pendingImageTokens -= req.inlineTokens
        drop(r)
        return true
    }

    /// Request `r`'s whole prompt is in on `inst`: its first token is out and its images are cached.
    func promptDone(_ r: Int, on inst: SimulatedInstance) {
        inst.pendingImageTokens -= requests[r].inlineTokens
        requests[r].firstToken = now
        guard system.prefixCache else { return }
        inst.promptBlocks.record(requests[r].info.promptBlockHashes)
        for image in requests[r].info.images {
            inst.prefixCache.touch(image.id, (), cost: image.tokens)
            if requests[r].inlineTokens > 0 { inst.encoderCache.touch(image.id, (), cost: image.tokens) }
        }
    }

    /// Encoding run inside a prefill or mixed step, with any blocking CPU preprocessing before it.
    func inlineEncodeSeconds(images: Int, tokens: Int) -> Double {
        guard tokens > 0 else { return 0 }
        return cost.encodeSeconds(images: images, tokens: tokens) + Double(images) * blockingPreprocessSeconds
    }

    /// Sends a request's KV cache (`tokens` tokens) to a decode instance.
    func dispatchDecode(_ r: Int, tokens: Int) {
        let info = requests[r].info
        let pool = candidates(.decode, info.group)
        guard let target = router.route(info, to: .decode, candidates: pool, in: self) else {
            parked.append(r)
            return
        }
        record([RoutingDecision(request: r, stage: .decode, instance: target)])
        events.push(.joinDecode(r, target), at: now + cost.transferSeconds(bytes: Double(tokens) * cost.transfer.bytesPerKVToken))
    }

    func joinDecode(_ r: Int, _ i: Int) {
        let inst = fleet[i]
        guard inst.phase == .active else { return dispatchDecode(r, tokens: 0) }
        inst.waiting.append(r)
        refresh(i)
        if inst.decodeRun != nil { interrupt(i) } else { kick(i) }
    }

    func startDecode(_ i: Int) {
        let inst = fleet[i]
        // Admit waiting sequences (KV reserved for their whole output) in arrival order.
        var admitted = 0
        for r in inst.waiting {
            guard inst.running.count < cost.decode.maxBatch, inst.kvUsed + requests[r].kvTokens <= cost.memory.kvCapacityTokens else { break }
            inst.kvUsed += requests[r].kvTokens
            requests[r].joinStep = inst.steps
            inst.running.append(r)
            inst.context += requests[r].info.promptTokens + requests[r].decoded
            admitted += 1
        }
        if admitted > 0 { inst.waiting.removeFirst(admitted) }
        guard !inst.running.isEmpty else { refresh(i); return }
        var k = Int.max
        var predicted = 0
        for r in inst.running {
            let left = requests[r].remaining - (inst.steps - requests[r].joinStep)
            k = min(k, left)
            predicted += max(0, requests[r].info.predictedOutputTokens - 1 - requests[r].decoded - (inst.steps - requests[r].joinStep))
        }
        instances[i].predictedDecodeTokens = predicted
        let run = SimulatedInstance.DecodeRun(start: now, steps: max(1, k), batch: inst.running.count, context: inst.context)
        inst.decodeRun = run
        inst.busy = true
        events.push(.decodeDone(i, inst.version), at: now + decodeSeconds(run, steps: run.steps))
        refresh(i)
    }

    /// Σ of `steps` step latencies: context grows by one token per sequence per step.
    func decodeSeconds(_ run: SimulatedInstance.DecodeRun, steps m: Int) -> Double {
        let first = cost.decodeStepSeconds(batch: run.batch, contextTokens: run.context)
        let growth = cost.decodeStepGrowthSeconds(batch: run.batch)
        return split(Double(m) * first + growth * Double(m) * Double(m - 1) / 2, tokens: m * run.batch, logitRows: m * run.batch)
    }

    /// What `seconds` of whole-model steps take on the instance's layer split (``PipelineSplit``):
    /// `tokens` hidden-state rows go forward over every hop and `logitRows` logits rows come back.
    func split(_ seconds: Double, tokens: Int, logitRows: Int) -> Double {
        guard let pipeline else { return seconds }
        return pipeline.split.stepSeconds(unsplit: seconds, tokens: tokens, logitRows: logitRows, plan: pipeline.plan,
                                          referenceFlopsPerSecond: pipeline.reference)
    }

    /// Ends the current decode run at the next step boundary so new work can join.
    func interrupt(_ i: Int) {
        let inst = fleet[i]
        guard let run = inst.decodeRun, run.steps > 1 else { return }
        let elapsed = now - run.start
        var lo = 1, hi = run.steps
        while lo < hi {
            let mid = (lo + hi) / 2
            if decodeSeconds(run, steps: mid) >= elapsed { hi = mid } else { lo = mid + 1 }
        }
        guard lo < run.steps else { return }
        inst.version += 1
        inst.decodeRun?.steps = lo
        events.push(.decodeDone(i, inst.version), at: run.start + decodeSeconds(run, steps: lo))
    }

    func finishDecode(_ i: Int) {
        let inst = fleet[i]
        guard let run = inst.decodeRun else { return }
        inst.decodeRun = nil
        inst.busy = false
        // Sequences whose first token is sampled here joined at this run's start.
        for r in inst.running where requests[r].firstToken < 0 { requests[r].firstToken = run.start + decodeSeconds(run, steps: 1) }
        inst.steps += run.steps
        inst.context += run.batch * run.steps
        var kept: [Int] = []
        kept.reserveCapacity(inst.running.count)
        for r in inst.running {
            if requests[r].remaining - (inst.steps - requests[r].joinStep) <= 0 {
                inst.kvUsed -= requests[r].kvTokens
                inst.context -= requests[r].info.promptTokens + requests[r].output - 1
                complete(r)
            } else {
                kept.append(r)
            }
        }
        inst.running = kept
        finishChunks(i)
        afterDecodeBoundary(i)
        refresh(i)
        kick(i)
    }

    /// vLLM V1-style step: decode every running sequence once and spend the rest of the token
    /// budget on prefill chunks, continuing partly prefilled requests first, as far as the step
    /// time target allows (``promptRoom(_:cap:)``). False when there is no prefill work to mix in.
    func startMixedStep(_ i: Int) -> Bool {
        let inst = fleet[i]
        guard !inst.prefillQueue.isEmpty || !inst.prefilling.isEmpty else { return false }
        let room = promptRoom(inst, cap: limits.maxTokens - inst.running.count)
        var budget = room.tokens
        var chunks: [(request: Int, tokens: Int)] = []
        var squares = 0.0, inlineTokens = 0, inlineImages = 0, total = 0
        for r in inst.prefilling where budget > 0 {
            let take = min(budget, requests[r].prefillTokens - requests[r].prefilled)
            chunks.append((r, take))
            budget -= take
        }
        var batch = BatchSoFar()
        var admitted: [Int] = []
        while room.admits, budget > 0, inst.running.count + inst.prefilling.count < cost.decode.maxBatch, let r = inst.prefillQueue.peek() {
            if dropIfNeverFits(r, on: inst) { continue }
            reusePrefix(r, on: inst)
            let req = requests[r]
            let q = req.queued
            if batch.count > 0 && !batcher.admits(q, into: batch, limits: BatchLimits(maxRequests: limits.maxRequests, maxTokens: .max)) { break }
            guard inst.kvUsed + req.kvTokens <= cost.memory.kvCapacityTokens else { break }
            _ = inst.prefillQueue.pop()
            batch.add(q)
            admitted.append(r)
            inst.kvUsed += req.kvTokens
            inst.prefilling.append(r)
            // The encoder runs when a request's first chunk is scheduled, inside the step.
            inlineTokens += req.inlineTokens
            inlineImages += req.inlineImages
            let take = min(budget, req.prefillTokens)
            chunks.append((r, take))
            budget -= take
        }
        guard !chunks.isEmpty else { return false }
        record(admitted: admitted, on: i)
        for (r, take) in chunks {
            total += take
            squares += Double(take) * Double(requests[r].reusedTokens + requests[r].prefilled + take)
        }
        let run = SimulatedInstance.DecodeRun(start: now, steps: 1, batch: inst.running.count, context: inst.context)
        // Chunks and decodes run as one forward pass, as in the engine's step.
        let seconds = inlineEncodeSeconds(images: inlineImages, tokens: inlineTokens)
            + split(cost.stepSeconds(prefillTokens: Double(total), squaredLengths: squares, decodeBatch: run.batch, contextTokens: run.context),
                    tokens: total + run.batch, logitRows: run.batch + chunks.count)
        inst.stepChunks = chunks
        inst.decodeRun = run
        inst.busy = true
        events.push(.decodeDone(i, inst.version), at: now + seconds)
        refresh(i)
        return true
    }

    /// The prompt tokens a mixed step on `inst` may carry within its `cap`, and whether it may admit:
    /// the live scheduler's ``StepTimeBudget`` rule, fed the cost model's step times. A step's
    /// prompt tokens are priced as one chunk after the first running prefill's computed tokens, its
    /// decodes at the running batch's mean context; a step with nothing to decode has no time bound.
    func promptRoom(_ inst: SimulatedInstance, cap: Int) -> StepTimeBudget.Room {
        guard !inst.running.isEmpty else { return StepTimeBudget.Room(tokens: cap, admits: true) }
        let before = Double(inst.prefilling.first.map { requests[$0].reusedTokens + requests[$0].prefilled } ?? 0)
        let meanContext = Double(inst.context) / Double(inst.running.count)
        return stepBudget.room(decoding: inst.running.count, cap: cap, minimumChunk: KVBlock.defaultTokens) { prompt, decoding in
            let tokens = Double(prompt)
            return cost.stepSeconds(prefillTokens: tokens, squaredLengths: tokens * (before + tokens), decodeBatch: decoding,
                                    contextTokens: Int(meanContext * Double(decoding)))
        }
    }

    /// Credits the prefill chunks of a finished mixed step; completed prompts join the decode batch.
    func finishChunks(_ i: Int) {
        let inst = fleet[i]
        guard !inst.stepChunks.isEmpty else { return }
        for (r, take) in inst.stepChunks {
            requests[r].prefilled += take
            inst.pendingPrefillTokens -= take
            guard requests[r].prefilled >= requests[r].prefillTokens else { continue }
            inst.prefilling.removeAll { $0 == r }
            promptDone(r, on: inst)
            let info = requests[r].info
            if requests[r].remaining <= 0 {
                inst.kvUsed -= requests[r].kvTokens
                complete(r)
            } else {
                requests[r].joinStep = inst.steps
                inst.running.append(r)
                inst.context += info.promptTokens
            }
        }
        inst.stepChunks.removeAll(keepingCapacity: true)
    }

    /// UELLM-style run-to-completion batch on a monolithic instance: prompts padded to the longest,
    /// every slot decoded until the longest output finishes.
    func startStatic(_ i: Int) {
        let inst = fleet[i]
        var batch = BatchSoFar()
        var chosen: [Int] = []
        var maxPrompt = 0, maxOutput = 0, inlineTokens = 0, inlineImages = 0
        while let r = inst.prefillQueue.peek() {
            reusePrefix(r, on: inst)
            let req = requests[r]
            let q = req.queued
            if !chosen.isEmpty && !batcher.admits(q, into: batch, limits: limits) { break }
            let p = max(maxPrompt, req.prefillTokens), o = max(maxOutput, req.output)
            if !chosen.isEmpty && (chosen.count + 1) * (p + o) > cost.memory.kvCapacityTokens { break }
            _ = inst.prefillQueue.pop()
            batch.add(q)
            chosen.append(r)
            maxPrompt = p
            maxOutput = o
            inlineTokens += req.inlineTokens
            inlineImages += req.inlineImages
        }
        guard !chosen.isEmpty else { return }
        record(admitted: chosen, on: i)
        let b = chosen.count
        let prefillEnd = now + inlineEncodeSeconds(images: inlineImages, tokens: inlineTokens)
            + split(cost.prefillSeconds(tokens: Double(b * maxPrompt), squaredLengths: Double(b) * Double(maxPrompt) * Double(maxPrompt)),
                    tokens: b * maxPrompt, logitRows: b)
        let run = SimulatedInstance.DecodeRun(start: prefillEnd, steps: maxOutput - 1, batch: b, context: b * maxPrompt)
        for r in chosen {
            inst.pendingPrefillTokens -= requests[r].prefillTokens
            inst.pendingImageTokens -= requests[r].inlineTokens
            requests[r].firstToken = prefillEnd
            requests[r].finish = prefillEnd + decodeSeconds(run, steps: requests[r].output - 1)
        }
        inst.inFlight = chosen
        inst.busy = true
        events.push(.staticDone(i, inst.version), at: prefillEnd + decodeSeconds(run, steps: run.steps))
        refresh(i)
    }

    func finishStatic(_ i: Int) {
        let inst = fleet[i]
        inst.busy = false
        for r in inst.inFlight {
            // The batch's prompts stay cached for the next batch's (its first tokens came out at its prefill's end).
            if system.prefixCache { inst.promptBlocks.record(requests[r].info.promptBlockHashes) }
            complete(r, at: requests[r].finish)
        }
        inst.inFlight.removeAll(keepingCapacity: true)
        refresh(i)
        kick(i)
    }

    func complete(_ r: Int, at time: Double? = nil) {
        requests[r].finish = time ?? now
        done += 1
        schedule.finished(met: meetsSLO(requests[r]))
    }

    func drop(_ r: Int) {
        requests[r].dropped = true
        done += 1
        schedule.finished(met: false)
    }

    func meetsSLO(_ r: SimulatedRequest) -> Bool {
        guard !r.dropped, r.finish >= 0, r.firstToken >= 0 else { return false }
        return r.info.slo.isMet(ttft: r.firstToken - r.info.arrival, duration: r.finish - r.firstToken, outputTokens: r.output)
    }
}
