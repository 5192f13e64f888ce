import Cluster

/// Image generation on the `image` workers, as the live diffusion engine runs it (``DiffusionEngine``):
/// the image router picks a worker; at each step boundary the worker admits waiting images into
/// free batch slots (text encoding each), picks the step's batch by the system's ``StepBatchPolicy``
/// (one size, up to the cap), merges the batch's LoRAs when all its images use the same ones, and runs one UNet call
/// over every image's rows with their ControlNets; finished images are VAE-decoded before the next
/// step. LoRAs missing from the worker's cache load one after another on its loader while the image
/// runs its first `loraStartStep` steps on the base weights (Katz §BAL); a step whose LoRA is still
/// loading waits. ControlNets run in-process, or with `controlnet` workers up, spread over them and
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
            fleet[peer].peerImages += 1
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
        while inst.imageRunning.count < cap, let r = inst.imageQueue.first {
            inst.imageQueue.removeFirst()
            inst.imageRunning.append(r)
            seconds += d.textEncodeMs / 1000
            startLoRAs(r, on: inst, at: now + seconds)
        }
        guard !inst.imageRunning.isEmpty else { return }
        let candidates = inst.imageRunning.map { r in
            let image = requests[r].image!
            let due = !image.loras.isEmpty && requests[r].stepsDone >= requests[r].loraActivation
            return StepCandidate(height: image.height, width: image.width, loras: due ? image.loras : [])
        }
        let chosen = imageBatcher.select(candidates, maxBatchSize: cap).map { inst.imageRunning[$0] }
        // LoRAs due at this step: wait for their loads, re-encode the text through them.
        var ready = now + seconds
        for r in chosen where !requests[r].image!.loras.isEmpty && requests[r].stepsDone == requests[r].loraActivation {
            ready = max(ready, requests[r].loraReady)
            requests[r].loraActive = true
            seconds += d.textEncodeMs / 1000
        }
        seconds = max(seconds, ready - now)
        let keys = chosen.map { requests[$0].loraActive ? requests[$0].image!.loras : [] }
        let key = keys.allSatisfy({ $0 == keys[0] }) && !keys[0].isEmpty ? keys[0] : nil
        if key != inst.mergedLoRAs {
            seconds += Double(key?.count ?? 0) * d.loraMergeMs / 1000
            inst.mergedLoRAs = key
        }
        var rowPixels = 0.0, controlNet = 0.0
        for r in chosen {
            let image = requests[r].image!
            let rows = split(r) ? 1 : image.cfgRows
            rowPixels += Double(rows * image.width * image.height)
            controlNet += Double(rows * image.controlNets.count) * d.controlNetSeconds(width: image.width, height: image.height)
        }
        let unet = d.stepSeconds(rowPixels: rowPixels)
        let servers = active(role: .controlnet).count
        seconds += unet + (servers > 0 ? max(0, controlNet / Double(servers) - unet / 2) : controlNet)
        inst.imageStep = chosen
        inst.busy = true
        events.push(.imageStepDone(i, inst.version), at: now + seconds)
        refresh(i)
    }

    /// Whether image `r` runs its unconditional rows on a CFG-split peer.
    func split(_ r: Int) -> Bool { requests[r].guidancePeer != nil }

    /// The image's LoRAs that the worker's cache lacks load one after another on its loader.
    func startLoRAs(_ r: Int, on inst: SimulatedInstance, at time: Double) {
        guard let image = requests[r].image, !image.loras.isEmpty else { return }
        var ready = time
        for name in image.loras {
            if inst.loras.contains(name) {
                inst.loras.touch(name, (), cost: 1)
                continue
            }
            inst.loaderFree = max(inst.loaderFree, time) + diffusion.loraLoadMs / 1000
            ready = max(ready, inst.loaderFree)
            inst.loras.touch(name, (), cost: 1)
        }
        requests[r].loraReady = ready
        requests[r].loraActivation = min(system.loraStartStep ?? 0, max(image.steps - 1, 0))
    }

    func finishImageStep(_ i: Int) {
        let inst = fleet[i]
        inst.busy = false
        var decodeEnd = now
        for r in inst.imageStep {
            requests[r].stepsDone += 1
            guard let image = requests[r].image, requests[r].stepsDone >= image.steps else { continue }
            decodeEnd += diffusion.vaeDecodeSeconds(width: image.width, height: image.height)
            inst.imageRunning.removeAll { $0 == r }
            if let peer = requests[r].guidancePeer {
                fleet[peer].peerImages -= 1
                refresh(peer)
            }
            requests[r].firstToken = decodeEnd
            complete(r, at: decodeEnd)
        }
        inst.imageStep.removeAll()
        if let key = inst.mergedLoRAs, !inst.imageRunning.contains(where: { requests[$0].loraActive && requests[$0].image!.loras == key }) {
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
