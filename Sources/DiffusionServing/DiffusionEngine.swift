import Cluster
import CoreUtilities
import Diffusion
import Foundation
import Imaging
import Models
import ServingAPI
import Tensor

/// Serves text-to-image requests with step-level continuous batching: images join the running
/// batch at any step boundary and leave it when their last step is done (or their client left), so
/// images at different timesteps, with different prompts, guidance and schedulers, share each UNet
/// call. The configured ``StepBatchPolicy`` picks each call's images (one latent size); the CFG rows of every image ride in it.
///
/// One thread runs the loop: admit waiting images (text encoding, initial noise), pick the batch,
/// run one ``StableDiffusionPipeline/denoise(_:)`` over it, report progress, decode finished images.
/// Each image's result is exactly the one it would have alone: rows are independent in the UNet and
/// every image keeps its own scheduler and generator.
///
/// Add-ons are named (``PipelineImageRequest``) and resolved through the ``AdapterRegistry``. LoRAs load on
/// the registry's loader thread while the image's first steps run on the base weights (bounded
/// asynchronous loading, Katz et al. §BAL); they join at step `loraStartStep` (see
/// ``DiffusionEngineConfig``), and a step whose LoRA is still loading waits for it. A batch whose
/// images all use the same LoRAs runs on weights with those LoRAs merged in; a batch that mixes
/// them runs each image's rows with its LoRAs unmerged (low-rank, per row), on pristine weights
/// (``LoRAMergeRule``, which counts the rows this engine runs for CFG-split leaders too, see
/// ``predictGuestNoise(_:)``). Merged weights are restored bit for bit when the batch changes and
/// once no image uses them (``StableDiffusionPipeline/mergeLoRAs(_:)``). An image with a CFG-split
/// peer that leaves early (cancelled, failed) releases the peer (``GuidancePeer/release()``).
///
/// ```swift
/// let engine = DiffusionEngine(pipeline: try StableDiffusionPipeline(directory: folder))
/// for try await event in try engine.submit([TextToImageRequest(prompt: "a cat", steps: 20, seed: 1)]) {
///     if case let .image(_, image, timing) = event { print(image.width, timing.endToEndSeconds) }
/// }
/// ```
public final class DiffusionEngine: @unchecked Sendable {
    public let pipeline: StableDiffusionPipeline
    public let config: DiffusionEngineConfig
    public let registry: AdapterRegistry
    /// What images of each size need of ``DiffusionEngineConfig/memoryBudgetBytes``, as measured here.
    public let memory: ImageMemory

    /// Guards `waiting`, `stopping`, `aborting`, `counters`, `lastStepSeconds`, every group's
    /// `cancelled` and `remaining`, and changes to `running`.
    private let condition = NSCondition()
    private var waiting: [Job] = []
    private var stopping = false
    /// Set after the shutdown grace period: every image still here ends with `shuttingDown`.
    private var aborting = false
    private var counters = ImageEngineStatistics()
    private var lastStepSeconds = 0.0
    /// Changed by the loop thread only, under the lock (so statistics can read it).
    private var running: [Job] = []
    /// Images out of `running` whose decode and answer are under way (shutdown waits for them).
    private var completing = 0
    /// The LoRA sets the running images take now, as the loop last saw them (for ``guests``).
    private var runningSets: [[LoRAUse]] = []
    /// Images that left `running` unfinished, whose CFG-split peers the loop releases (loop thread only).
    private var leaving: [Job] = []
    /// Whether an image held the loop at ``DiffusionEngineConfig/pauseAtStep`` and left (loop thread only).
    private var pauseSpent = false
    /// The LoRAs the loop merged into the weights last (loop thread only).
    private var loopMerge: (loras: [LoRAUse], merge: UNetLoRAMerge)?
    /// CFG-split leaders' images whose unconditional rows this engine's pipeline runs.
    let guests = GuestImages()

    /// `memory` carries what another engine on the same pipeline measured (by default nothing yet).
    public init(pipeline: StableDiffusionPipeline, config: DiffusionEngineConfig = DiffusionEngineConfig(),
                registry: AdapterRegistry = AdapterRegistry(), memory: ImageMemory? = nil) {
        precondition(config.maxBatchSize >= 1 && config.maxQueuedImages >= 1 && config.maxSteps >= 1 && config.loraStartStep >= 0)
        self.pipeline = pipeline
        self.config = config
        self.registry = registry
        self.memory = memory ?? ImageMemory(pipeline: pipeline)
        let thread = Thread { [self] in loop() }
        thread.name = "tessera-diffusion"
        thread.start()
    }

    /// Queues one image per request (OpenAI's `n` images are `n` requests). Events of all of them
    /// come on the returned stream, which finishes after the last image; ending the iteration
    /// (the client left) cancels the images still queued or running at their next step boundary.
    /// Add-ons are named (an unregistered name is ``ImageGenerationError/adapterNotFound(_:param:)``);
    /// `submit([TextToImageRequest])` queues images without them.
    public func submit(_ requests: [PipelineImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error> {
        precondition(!requests.isEmpty)
        let sizes = try requests.map { request throws(ImageGenerationError) in try validate(request) }
        let (stream, continuation) = AsyncThrowingStream<ImageGenerationEvent, any Error>.makeStream()
        let group = Group(continuation: continuation, count: requests.count)
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw .shuttingDown }
        guard requests.count <= config.maxQueuedImages else {
            throw .invalidRequest("this request asks for \(requests.count) images, more than the \(config.maxQueuedImages) this server queues at once", param: "n")
        }
        guard waiting.count + requests.count <= config.maxQueuedImages else {
            counters.rejectedGroups += 1
            let queuedSteps = waiting.reduce(0) { $0 + $1.request.steps }
            throw .overloaded(retryAfterSeconds: max(1, Int((Double(queuedSteps) * lastStepSeconds / Double(config.maxBatchSize)).rounded(.up))))
        }
        waiting += requests.indices.map {
            Job(group: group, index: $0, image: requests[$0], size: sizes[$0], loraStartStep: config.loraStartStep)
        }
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel(group) }
        }
        condition.signal()
        return stream
    }

    /// Refuses new images, lets admitted and queued ones finish for up to `gracePeriod`, then ends
    /// the rest with `shuttingDown` (at the next step boundary) and stops the loop.
    public func shutdown(gracePeriod: Duration) async {
        locked { $0.stopping = true }
        let deadline = ContinuousClock.now + gracePeriod
        while ContinuousClock.now < deadline, statistics().waitingImages + statistics().runningImages + inFlightCompletions() > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
        locked { $0.aborting = true }
    }

    /// Runs `change` under the lock and wakes the loop.
    private func locked(_ change: (DiffusionEngine) -> Void) {
        condition.lock()
        change(self)
        condition.signal()
        condition.unlock()
    }

    private func inFlightCompletions() -> Int {
        condition.lock()
        defer { condition.unlock() }
        return completing
    }

    public func statistics() -> ImageEngineStatistics {
        condition.lock()
        defer { condition.unlock() }
        var snapshot = counters
        snapshot.waitingImages = waiting.count
        snapshot.runningImages = running.count
        (snapshot.loraCache, snapshot.controlNetCache) = registry.cacheCounters()
        snapshot.loraMerges = pipeline.loraMerges
        snapshot.lorasMerged = pipeline.hasMergedLoRAs
        snapshot.guestImages = guests.count
        snapshot.memoryNeededBytes = ImageMemoryBudget.bytes(of: running.map(need))
        snapshot.memoryBudgetBytes = config.memoryBudgetBytes
        return snapshot
    }

    /// Noise predictions for the unconditional rows of CFG-split leaders' images (their LoRAs
    /// from this engine's registry), on this engine's pipeline between its own steps. A row
    /// takes its LoRAs merged only when its leader's batch shares them and, by ``LoRAMergeRule``,
    /// every row these weights serve does (this engine's running images and the other leaders'
    /// images), so images with different LoRAs on the same workers run unmerged instead of
    /// merging and restoring every step. An image is forgotten after its last row or
    /// ``endGuests(_:)``; weights merged for it alone are restored then.
    public func predictGuestNoise(_ rows: [GuestRow]) throws(DiffusionError) -> [FeatureMap] {
        try guests.predictNoise(rows, engine: self)
    }

    /// Forgets leaders' images that end without their last row (cancelled, failed).
    public func endGuests(_ images: [GuestImage]) { guests.end(images, engine: self) }

    /// Forgets every image of `link` (its leader's connection closed).
    public func endGuests(link: Int) { guests.end(guests.images(link: link), engine: self) }

    /// The LoRA sets of the running images as of the loop's last step.
    func runningLoRASets() -> [[LoRAUse]] {
        condition.lock()
        defer { condition.unlock() }
        return runningSets
    }

    /// Checks `image` against this server's models, add-ons and limits; returns its output size.
    private func validate(_ image: PipelineImageRequest) throws(ImageGenerationError) -> (height: Int, width: Int) {
        let request = image.request
        for (i, lora) in image.loras.enumerated() {
            guard registry.entry(.lora, named: lora.name) != nil else {
                throw .adapterNotFound("no LoRA named '\(lora.name)' is registered on this server (GET /v1/adapters lists them)", param: "loras[\(i)].name")
            }
            guard lora.scale.isFinite else { throw .invalidRequest("a LoRA scale must be a finite number", param: "loras[\(i)].scale") }
        }
        if Set(image.loras.map(\.name)).count < image.loras.count {
            throw .invalidRequest("a LoRA is named twice; give each LoRA once with its scale", param: "loras")
        }
        for (i, control) in image.controlNets.enumerated() {
            guard registry.entry(.controlNet, named: control.name) != nil else {
                throw .adapterNotFound("no ControlNet named '\(control.name)' is registered on this server (GET /v1/adapters lists them)",
                                       param: "controlnets[\(i)].name")
            }
            guard control.scale.isFinite else { throw .invalidRequest("a ControlNet scale must be a finite number", param: "controlnets[\(i)].scale") }
            guard control.start >= 0, control.end <= 1, control.start < control.end else {
                throw .invalidRequest("ControlNet start \(control.start) and end \(control.end) need 0 ≤ start < end ≤ 1", param: "controlnets[\(i)]")
            }
        }
        try request.parameters.checkSecondPrompts(secondTextEncoder: pipeline.textEncoder2 != nil)
        try image.previews.check()
        guard (1 ... config.maxSteps).contains(request.steps) else {
            throw .invalidRequest("num_inference_steps must be between 1 and \(config.maxSteps), got \(request.steps)", param: "num_inference_steps")
        }
        try request.schedulerOverrides.check(for: request.scheduler ?? pipeline.folderScheduler)
        do { _ = try pipeline.scheduler(request.scheduler, overrides: request.schedulerOverrides, steps: request.steps) } catch {
            throw .invalidRequest("num_inference_steps: \(error)", param: "num_inference_steps")
        }
        guard request.loraMode == .unmerged else {
            // Merged weights are shared by every image in the batch: a batch applies each image's LoRAs to its own rows.
            throw .invalidRequest("a batched image takes its LoRAs unmerged (per row), not merged into the shared weights", param: "loras")
        }
        guard request.guidanceScale.isFinite else { throw .invalidRequest("guidance_scale must be a finite number", param: "guidance_scale") }
        let size = try pipeline.sizeRule.checkedOutputSize(width: request.width, height: request.height, initImage: request.initImage,
                                                           maxPixels: config.maxPixels)
        let need = ImageMemoryBudget.bytes(of: [memory.need(height: size.height, width: size.width)])
        guard need <= config.memoryBudgetBytes else {
            throw .invalidRequest("a \(size.width)x\(size.height) image needs about \(need >> 20) MiB of working memory, more than the \(config.memoryBudgetBytes >> 20) MiB this server gives images (--image-memory)",
                                  param: "size")
        }
        return size
    }

    private func cancel(_ group: Group) {
        condition.lock()
        if !group.cancelled {
            group.cancelled = true
            let before = waiting.count
            waiting.removeAll { $0.group === group }
            counters.cancelledImages += before - waiting.count
        }
        condition.signal()
        condition.unlock()
    }

    // MARK: The loop (its own thread)

    private func loop() {
        while let admitted = nextAdmissions() {
            releaseLeaving()
            let start = ContinuousClock.now
            for job in admitted { begin(job) }
            condition.lock()
            if !admitted.isEmpty { counters.loopSeconds.admission += (ContinuousClock.now - start).seconds }
            running.removeAll { $0.state == nil }
            condition.unlock()
            if !running.isEmpty { step() }
        }
        releaseLeaving()
    }

    /// Releases the CFG-split peers of the images that left unfinished (after their last row went
    /// out: rows are sent from this thread), and the weights no running image or guest uses.
    private func releaseLeaving() {
        for job in leaving { job.request.guidancePeer?.release() }
        leaving = []
        publishRunningSets()
        guard let (loras, merge) = loopMerge, !running.contains(where: { $0.activeLoRAs == loras }),
              !guests.activeSets.contains(loras) else { return }
        let start = ContinuousClock.now
        pipeline.restoreLoRAs(ifMerged: merge.key)
        locked { $0.counters.loopSeconds.loraMerge += (ContinuousClock.now - start).seconds }
        loopMerge = nil
    }

    private func publishRunningSets() {
        let sets = running.map(\.activeLoRAs)
        condition.lock()
        runningSets = sets
        condition.unlock()
    }

    /// Waits for work, drops cancelled images, and moves waiting images into free batch slots.
    /// `nil` once stopping with nothing left.
    private func nextAdmissions() -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if aborting {
                for job in waiting + running where !job.group.cancelled {
                    job.group.cancelled = true
                    job.group.continuation.finish(throwing: ImageGenerationError.shuttingDown)
                }
                waiting.removeAll()
                leaving += running
                running.removeAll()
                return nil
            }
            let gone = running.filter { $0.group.cancelled }
            running.removeAll { $0.group.cancelled }
            leaving += gone
            counters.cancelledImages += gone.count
            if gone.contains(where: isPausing) { pauseSpent = true }
            // Images that just left are released before the loop waits; a pause waits with them.
            let paused = running.contains(where: isPausing)
            if !paused, !running.isEmpty || !waiting.isEmpty || !leaving.isEmpty { break }
            if stopping, !paused { return nil }
            condition.wait()
        }
        let slots = config.maxBatchSize - running.count
        let (count, held) = ImageMemoryBudget.admissions(running: running.map(need), waiting: waiting.prefix(max(0, slots)).map(need),
                                                         slots: slots, budget: config.memoryBudgetBytes)
        for job in waiting[count ..< count + held] where !job.waitedForMemory {
            job.waitedForMemory = true
            counters.memoryWaits += 1
        }
        let admitted = Array(waiting.prefix(count))
        waiting.removeFirst(count)
        running += admitted
        return admitted
    }

    /// What `job` needs of the memory budget, as this engine measured its size.
    private func need(_ job: Job) -> ImageMemoryNeed { memory.need(height: job.size.height, width: job.size.width) }

    /// Whether `job` is the image holding the loop at ``DiffusionEngineConfig/pauseAtStep``.
    private func isPausing(_ job: Job) -> Bool {
        !pauseSpent && job.state != nil && job.state?.stepsDone == config.pauseAtStep
    }

    /// Text encoding and initial noise of a newly admitted image, its ControlNets from the cache or
    /// disk, and its LoRAs set loading (it starts on the base weights unless they are due at step 0).
    private func begin(_ job: Job) {
        let (_, span) = ActivationSpan.measure { start(job) }
        memory.record(height: job.size.height, width: job.size.width, kept: span.liveBytes,
                      vae: job.request.initImage == nil ? nil : span.peakBytes)
    }

    private func start(_ job: Job) {
        do {
            for control in job.image.controlNets {
                let (model, seconds) = try registry.controlNet(control.name)
                job.controlNetSeconds += seconds
                job.request.controlNets.append(ControlNetRequest(controlNet: model, image: control.image, scale: control.scale,
                                                                 start: control.start, end: control.end))
            }
            job.state = try pipeline.start(job.request)
            job.started = ContinuousClock.now
            if !job.image.loras.isEmpty {
                job.pending = job.image.loras.map { registry.loadLoRA($0.name) }
                job.loraActivation = pipeline.loraActivationStep(job.request, stepsTotal: job.state!.stepsTotal)
            }
        } catch {
            fail(job.group, .invalidRequest(error.description, param: nil))
        }
    }

    /// Puts the LoRAs of `job` into its conditioning (re-encoding its text through their text-encoder
    /// parts), waiting for a load still under way.
    private func activateLoRAs(_ job: Job) throws(DiffusionError) {
        let start = ContinuousClock.now
        let files = try job.pending.map { pending throws(DiffusionError) in try pending.wait() }
        job.loraWaitSeconds += (ContinuousClock.now - start).seconds
        job.loraLoadSeconds += job.pending.reduce(0) { $0 + $1.loadSeconds }
        job.request.loras = zip(files, job.image.loras).map { LoRARequest(file: $0, scale: $1.scale) }
        let weights = try pipeline.loraWeights(job.request.loras)
        job.state!.conditioning = try pipeline.conditioning(job.request, loras: weights)
        job.loraWeights = weights
        job.pending = []
    }

    private func step() {
        var chosen = config.stepBatcher.select(running.map(\.stepCandidate), maxBatchSize: config.maxBatchSize)
        let activationStart = ContinuousClock.now
        var activated = false
        for i in chosen where running[i].state!.stepsDone == running[i].loraActivation {
            activated = true
            do { try activateLoRAs(running[i]) } catch { fail(running[i].group, .invalidRequest("LoRA: \(error)", param: "loras")) }
        }
        let activationSeconds = activated ? (ContinuousClock.now - activationStart).seconds : 0
        chosen.removeAll { running[$0].group.cancelled }
        guard !chosen.isEmpty else { return }
        // The rule over everything these weights serve this step: the batch and the leaders' rows.
        let keys = chosen.map { running[$0].activeLoRAs }
        let lead = running[chosen[0]]
        let merge = LoRAMergeRule.merged(keys + guests.activeSets) == nil ? nil
            : lead.loraWeights.map { UNetLoRAMerge(lead.request.loras, weights: $0) }
        let mergeSeconds = pipeline.mergeLoRAs(merge)
        var states = chosen.map { running[$0].state! }
        for k in states.indices {
            states[k].conditioning.mergedLoRAs = merge
            if merge != nil { states[k].conditioning.adapters = LowRankAdapters() }
        }
        let start = ContinuousClock.now
        let controlNetSeconds: [Double]
        do {
            let span: ActivationSpan
            (controlNetSeconds, span) = try ActivationSpan.measure { () throws(DiffusionError) in try pipeline.denoise(&states) }
            for i in chosen {
                memory.record(height: running[i].size.height, width: running[i].size.width, step: span.peakBytes / chosen.count)
            }
        } catch {
            for i in chosen { fail(running[i].group, .failed(error.description)) }
            condition.lock()
            leaving += running.filter { $0.group.cancelled }
            running.removeAll { $0.group.cancelled }
            condition.unlock()
            return
        }
        let seconds = (ContinuousClock.now - start).seconds
        condition.lock()
        counters.loopSeconds.loraActivation += activationSeconds
        counters.loopSeconds.loraMerge += mergeSeconds
        counters.loopSeconds.unet += seconds
        counters.batchedCalls += 1
        counters.batchedSteps += chosen.count
        if merge != nil { counters.mergedLoRACalls += 1 } else if keys.contains(where: { !$0.isEmpty }) { counters.unmergedLoRACalls += 1 }
        lastStepSeconds = seconds
        condition.unlock()
        var finished: [Int] = []
        for (k, i) in chosen.enumerated() {
            let job = running[i]
            let adapters = job.state!.conditioning.adapters
            job.state = states[k]
            job.state!.conditioning.adapters = adapters
            job.stepSeconds += seconds
            job.loraMergeSeconds += mergeSeconds
            job.controlNetSeconds += controlNetSeconds[k]
            job.group.continuation.yield(.progress(
                index: job.index, step: states[k].stepsDone, total: states[k].stepsTotal, elapsed: (ContinuousClock.now - job.group.arrival).seconds,
                preview: job.image.previews.showsPreview(step: states[k].stepsDone, total: states[k].stepsTotal) ? preview(states[k]) : nil))
            if states[k].isFinished { finished.append(i) }
        }
        // Bookkeeping before the answer: a client that has its image sees it counted as finished.
        let completed = finished.map { running[$0] }
        condition.lock()
        running = running.enumerated().filter { !finished.contains($0.offset) }.map(\.element)
        completing += completed.count
        condition.unlock()
        if let merge { loopMerge = (keys[0], merge) }
        // Pristine weights once no running image uses the merged LoRAs.
        releaseLeaving()
        for job in completed { complete(job) }
    }

    /// The latents' ``LatentPreview`` (none for a latent space it has no factors for).
    private func preview(_ state: DenoisingState) -> RGBImage? {
        guard let preview = LatentPreview(latentChannels: pipeline.vae.latentChannels, secondTextEncoder: pipeline.textEncoder2 != nil) else { return nil }
        return preview.image(state.generation.latents, height: state.latentHeight, width: state.latentWidth)
    }

    private func complete(_ job: Job) {
        let state = job.state!
        let decodeStart = ContinuousClock.now
        let (image, span) = ActivationSpan.measure { pipeline.decode(state) }
        memory.record(height: job.size.height, width: job.size.width, vae: span.peakBytes)
        let now = ContinuousClock.now
        var timing = ImageTiming(
            queueSeconds: ((job.started ?? now) - job.group.arrival).seconds,
            secondsPerStep: job.stepSeconds / Double(max(state.stepsTotal, 1)),
            endToEndSeconds: (now - job.group.arrival).seconds)
        timing.loraLoadSeconds = job.loraLoadSeconds
        timing.loraWaitSeconds = job.loraWaitSeconds
        timing.loraMergeSeconds = job.loraMergeSeconds
        timing.controlNetSeconds = job.controlNetSeconds
        job.state = nil
        condition.lock()
        counters.loopSeconds.decode += (now - decodeStart).seconds
        counters.finishedImages += 1
        job.group.remaining -= 1
        let done = job.group.remaining == 0 && !job.group.cancelled
        condition.unlock()
        job.group.continuation.yield(.image(index: job.index, image, timing))
        if done { job.group.continuation.finish() }
        locked { $0.completing -= 1 }
    }

    /// Ends `group` with `error` and cancels its other images.
    private func fail(_ group: Group, _ error: ImageGenerationError) {
        condition.lock()
        let first = !group.cancelled
        group.cancelled = true
        waiting.removeAll { $0.group === group }
        condition.unlock()
        if first { group.continuation.finish(throwing: error) }
    }

    /// The images of one submission, sharing one event stream.
    private final class Group: @unchecked Sendable {
        let continuation: AsyncThrowingStream<ImageGenerationEvent, any Error>.Continuation
        let arrival = ContinuousClock.now
        var remaining: Int
        var cancelled = false

        init(continuation: AsyncThrowingStream<ImageGenerationEvent, any Error>.Continuation, count: Int) {
            self.continuation = continuation
            remaining = count
        }
    }

    private final class Job {
        let group: Group
        let index: Int
        let image: PipelineImageRequest
        /// The output size, which its memory needs are priced by.
        let size: (height: Int, width: Int)
        /// `image.request` with its add-ons filled in as they are resolved.
        var request: TextToImageRequest
        var state: DenoisingState?
        var started: ContinuousClock.Instant?
        /// LoRAs loading; joined into the conditioning at step `loraActivation` (counted from the first).
        var pending: [PendingLoRA] = []
        var loraActivation: Int?
        var loraWeights: LoRAWeights?
        /// Whether it waited in the queue for memory (counted once).
        var waitedForMemory = false
        var stepSeconds = 0.0, loraLoadSeconds = 0.0, loraWaitSeconds = 0.0, loraMergeSeconds = 0.0, controlNetSeconds = 0.0

        init(group: Group, index: Int, image: PipelineImageRequest, size: (height: Int, width: Int), loraStartStep: Int) {
            self.group = group
            self.index = index
            self.image = image
            self.size = size
            request = image.request
            request.loraStartStep = loraStartStep
        }

        /// The LoRAs its rows take now: none before they are activated.
        var activeLoRAs: [LoRAUse] { loraWeights == nil ? [] : image.loras }

        /// As the step-batch policy sees it: its LoRAs count from the step they are activated at.
        var stepCandidate: StepCandidate {
            let due = loraActivation.map { state!.stepsDone >= $0 } ?? false
            return StepCandidate(height: state!.latentHeight, width: state!.latentWidth,
                                 loras: due ? image.loras.map { "\($0.name)@\($0.scale)" } : [])
        }
    }
}
