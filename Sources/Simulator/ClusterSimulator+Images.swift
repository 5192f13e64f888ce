import Cluster

/// Image generation on the `image` workers, as the live diffusion engine runs it (``DiffusionEngine``):
/// the image router picks a worker; at each step boundary the worker admits waiting images into
/// free batch slots while their activation memory fits (``ImageMemoryBudget``, priced by the cost
/// model's `diffusion.memory`; text encoding each), picks the step's batch by the system's ``StepBatchPolicy``
/// (one size, up to the cap), merges the batch's LoRAs when ``LoRAMergeRule`` says so over the
/// batch and the rows the worker runs for CFG-split peers (else each row with LoRAs pays their
/// unmerged low-rank products), and runs one UNet call over every image's rows with their
/// ControlNets; finished images are VAE-decoded before the next step. LoRAs missing from the
/// worker's cache load one after another on its loader while the image runs its first
/// `loraStartStep` steps on the base weights (Katz §BAL); a step whose LoRA is still loading
/// waits, and the loop binds the LoRAs and re-encodes the image's text through them. A CFG-split peer loads an image's LoRAs into its own cache on its own loader from the
/// image's first step (the image's LoRA step waits for both), and merges them into its weights by
/// the same rule over its own images and its peer rows (the leader's step waits for it). ControlNets run in-process, or with `controlnet` workers up, spread over them and
/// overlapped with the UNet's down pass (half the call, Katz §ControlNet-as-a-Service).
extension ClusterSimulator {
    var diffusion: CostModel.Diffusion {
        guard let d = cost.diffusion else { preconditionFailure("image requests were admitted without a diffusion cost model") }
        return d
    }

    func arriveImage(_ r: Int) {
        guard let image = requests[r].image else { return }
        schedule.arrived(image)
        routeImage(r)
    }

    func routeImage(_ r: Int) {
        guard let image = requests[r].image else { return }
        let split = system.cfgSplit && image.cfgRows == 2
        guard let route = imageRouter.route(image, candidates: imageWorkers, splitGuidance: split, in: self) else {
            parked.append(r)
            return
        }
        imageRoutes?.append(ImageRoutingDecision(request: r, route: route))
        let inst = fleet[route.worker]
        inst.imageQueue.append(r)
        refresh(route.worker)
        if let peer = route.guidancePeer {
            // The peer runs the image's unconditional rows: it counts the image while it runs.
            requests[r].guidancePeer = peer
            fleet[peer].peerImages.append(r)
            refresh(peer)
        }
        kickImages(route.worker)
    }

    /// Starts the next step on an idle image worker.
    func kickImages(_ i: Int) {
        let inst = fleet[i]
        guard !inst.busy, inst.phase == .active || inst.phase == .draining else { return }
        let d = diffusion
        var seconds = 0.0
        // Admissions: text encoding and the LoRA loads they start.
        let cap = system.maxImageBatch ?? d.maxBatchSize
        let slots = cap - inst.imageRunning.count
        let (count, _) = ImageMemoryBudget.admissions(running: inst.imageRunning.map(memoryNeed),
                                                      waiting: inst.imageQueue.prefix(max(0, slots)).map(memoryNeed), slots: slots,
                                                      budget: system.imageMemoryMiB.map { $0 << 20 } ?? ImageMemoryBudget.defaultBytes)
        let joining = Array(inst.imageQueue.prefix(count))
        inst.imageQueue.removeFirst(count)
        for r in joining {
            inst.imageRunning.append(r)
            seconds += d.textEncodeMs / 1000
            imageWork.seconds.admission += d.textEncodeMs / 1000
            startLoRAs(r, on: inst, at: now + seconds)
        }
        guard !inst.imageRunning.isEmpty else { return }
        let candidates = inst.imageRunning.map { r in
            let image = requests[r].image!
            let due = !image.loras.isEmpty && requests[r].stepsDone >= requests[r].loraActivation
            return StepCandidate(height: image.height, width: image.width, loras: due ? image.loras : [])
        }
        let chosen = imageBatcher.select(candidates, maxBatchSize: cap).map { inst.imageRunning[$0] }
        // LoRAs due at this step: wait for their loads, bind them, re-encode the text through them.
        var ready = now + seconds
        let admitted = seconds
        for r in chosen where !requests[r].image!.loras.isEmpty && requests[r].stepsDone == requests[r].loraActivation {
            ready = max(ready, requests[r].loraReady)
            requests[r].loraActive = true
            seconds += (d.textEncodeMs + Double(requests[r].image!.loras.count) * d.loraBindMs) / 1000
        }
        seconds = max(seconds, ready - now)
        imageWork.seconds.loraActivation += seconds - admitted
        let merging = seconds
        let key = LoRAMergeRule.merged(chosen.map(activeLoRAs) + inst.peerImages.map(activeLoRAs))
        seconds += merge(key, on: inst)
        // Each peer puts in place the weights the split images' rows expect (merged ones only when
        // this batch merges them), by the same rule over what it serves; this step waits for it.
        for r in chosen where split(r) && !activeLoRAs(r).isEmpty {
            let peer = fleet[requests[r].guidancePeer!]
            seconds += merge(key == nil ? nil : LoRAMergeRule.merged(peer.imageRunning.map(activeLoRAs) + peer.peerImages.map(activeLoRAs)), on: peer)
        }
        imageWork.seconds.loraMerge += seconds - merging
        var rowPixels: [Int] = [], controlNet = 0.0, unmerged = 0.0
        for r in chosen {
            let image = requests[r].image!
            let rows = split(r) ? 1 : image.cfgRows
            rowPixels += Array(repeating: image.width * image.height, count: rows)
            controlNet += Double(rows * image.controlNets.count) * d.controlNetSeconds(width: image.width, height: image.height)
            if key == nil {
                unmerged += Double(rows * activeLoRAs(r).count) * d.unmergedLoRASeconds(width: image.width, height: image.height)
            }
        }
        let unet = d.stepSeconds(rowPixels: rowPixels) + unmerged
        let servers = active(role: .controlnet).count
        let call = unet + (servers > 0 ? max(0, controlNet / Double(servers) - unet / 2) : controlNet)
        seconds += call
        imageWork.seconds.unet += call
        imageWork.unetCalls += 1
        imageWork.imageSteps += chosen.count
        inst.imageStep = chosen
        inst.busy = true
        events.push(.imageStepDone(i, inst.version), at: now + seconds)
        refresh(i)
    }

    /// Image `r`'s activation memory on its worker (its rows there: one when CFG-split).
    func memoryNeed(_ r: Int) -> ImageMemoryNeed {
        let image = requests[r].image!
        return diffusion.memoryNeed(width: image.width, height: image.height, rows: split(r) ? 1 : image.cfgRows)
    }

    /// Whether image `r` runs its unconditional rows on a CFG-split peer.
    func split(_ r: Int) -> Bool { requests[r].guidancePeer != nil }

    /// The LoRAs image `r`'s rows take now: none before its LoRA step.
    func activeLoRAs(_ r: Int) -> [String] { requests[r].loraActive ? requests[r].image!.loras : [] }

    /// Seconds to put `key`'s LoRAs merged into the worker's weights (nil: pristine, whose restore
    /// the merge's cost covers); 0 when they are in place.
    func merge(_ key: [String]?, on inst: SimulatedInstance) -> Double {
        guard key != inst.mergedLoRAs else { return 0 }
        inst.mergedLoRAs = key
        return Double(key?.count ?? 0) * diffusion.loraMergeMs / 1000
    }

    /// The image's LoRAs start loading on its worker and on its CFG-split peer; its LoRA step
    /// waits for both.
    func startLoRAs(_ r: Int, on inst: SimulatedInstance, at time: Double) {
        guard let image = requests[r].image, !image.loras.isEmpty else { return }
        let peer = requests[r].guidancePeer.map { loadLoRAs(image.loras, on: fleet[$0], at: time) } ?? time
        requests[r].loraReady = max(loadLoRAs(image.loras, on: inst, at: time), peer)
        requests[r].loraActivation = min(system.loraStartStep ?? 0, max(image.steps - 1, 0))
    }

    /// When `names` are all in the worker's cache: those it lacks load one after another on its loader.
    func loadLoRAs(_ names: [String], on inst: SimulatedInstance, at time: Double) -> Double {
        var ready = time
        for name in names {
            if inst.loras.contains(name) {
                inst.loras.touch(name, (), cost: 1)
                continue
            }
            inst.loaderFree = max(inst.loaderFree, time) + diffusion.loraLoadMs / 1000
            ready = max(ready, inst.loaderFree)
            inst.loras.touch(name, (), cost: 1)
        }
        return ready
    }

    func finishImageStep(_ i: Int) {
        let inst = fleet[i]
        inst.busy = false
        var decodeEnd = now
        for r in inst.imageStep {
            requests[r].stepsDone += 1
            guard let image = requests[r].image, requests[r].stepsDone >= image.steps else { continue }
            decodeEnd += diffusion.vaeDecodeSeconds(width: image.width, height: image.height)
            imageWork.seconds.decode += diffusion.vaeDecodeSeconds(width: image.width, height: image.height)
            inst.imageRunning.removeAll { $0 == r }
            if let peer = requests[r].guidancePeer {
                let peer = fleet[peer]
                peer.peerImages.removeAll { $0 == r }
                // Weights merged for the image alone are restored after its last row.
                if let key = peer.mergedLoRAs, !(peer.imageRunning + peer.peerImages).contains(where: { activeLoRAs($0) == key }) {
                    peer.mergedLoRAs = nil
                }
                refresh(peer.id)
            }
            requests[r].firstToken = decodeEnd
            complete(r, at: decodeEnd)
        }
        inst.imageStep.removeAll()
        if let key = inst.mergedLoRAs, !(inst.imageRunning + inst.peerImages).contains(where: { activeLoRAs($0) == key }) {
            inst.mergedLoRAs = nil
        }
        refresh(i)
        if decodeEnd > now {
            // The decodes hold the worker's loop before its next step.
            inst.busy = true
            events.push(.imageDecoded(i, inst.version), at: decodeEnd)
        } else {
            kickImages(i)
        }
    }
}
