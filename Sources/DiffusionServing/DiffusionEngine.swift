import CoreUtilities
import Diffusion
import Foundation

/// Serves text-to-image requests with step-level continuous batching: images join the running
/// batch at any step boundary and leave it when their last step is done (or their client left), so
/// images at different timesteps, with different prompts, guidance and schedulers, share each UNet
/// call. A batch holds one latent size (``StepBatch``); the CFG rows of every image ride in it.
///
/// One thread runs the loop: admit waiting images (text encoding, initial noise), pick the batch,
/// run one ``StableDiffusionPipeline/denoise(_:)`` over it, report progress, decode finished images.
/// Each image's result is exactly the one it would have alone: rows are independent in the UNet and
/// every image keeps its own scheduler and generator.
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

    public init(pipeline: StableDiffusionPipeline, config: DiffusionEngineConfig = DiffusionEngineConfig()) {
        precondition(config.maxBatchSize >= 1 && config.maxQueuedImages >= 1 && config.maxSteps >= 1)
        self.pipeline = pipeline
        self.config = config
        let thread = Thread { [self] in loop() }
        thread.name = "tessera-diffusion"
        thread.start()
    }

    /// Queues one image per request (OpenAI's `n` images are `n` requests). Events of all of them
    /// come on the returned stream, which finishes after the last image; ending the iteration
    /// (the client left) cancels the images still queued or running at their next step boundary.
    public func submit(_ requests: [TextToImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error> {
        precondition(!requests.isEmpty)
        for request in requests { try validate(request) }
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
        waiting += requests.enumerated().map { Job(group: group, index: $0.offset, request: $0.element) }
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
        return snapshot
    }

    private func validate(_ request: TextToImageRequest) throws(ImageGenerationError) {
        guard (1 ... config.maxSteps).contains(request.steps) else {
            throw .invalidRequest("num_inference_steps must be between 1 and \(config.maxSteps), got \(request.steps)", param: "num_inference_steps")
        }
        do { _ = try pipeline.scheduler(request.scheduler, steps: request.steps) } catch {
            throw .invalidRequest("num_inference_steps: \(error)", param: "num_inference_steps")
        }
        guard request.loraMode == .unmerged else {
            // Merged weights are shared by every image in the batch: a batch applies each image's LoRAs to its own rows.
            throw .invalidRequest("a batched image takes its LoRAs unmerged (per row), not merged into the shared weights", param: "loras")
        }
        guard request.guidanceScale.isFinite else { throw .invalidRequest("guidance_scale must be a finite number", param: "guidance_scale") }
        let width: Int, height: Int
        do { (height, width) = try pipeline.outputSize(request) } catch {
            throw .invalidRequest("size: \(error)", param: "size")
        }
        guard width * height <= config.maxPixels else {
            throw .invalidRequest("size \(width)x\(height) has more than the \(config.maxPixels) pixels this server generates", param: "size")
        }
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
            for job in admitted { begin(job) }
            condition.lock()
            running.removeAll { $0.state == nil }
            condition.unlock()
            if !running.isEmpty { step() }
        }
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
                running.removeAll()
                return nil
            }
            let before = running.count
            running.removeAll { $0.group.cancelled }
            counters.cancelledImages += before - running.count
            if !running.isEmpty || !waiting.isEmpty { break }
            if stopping { return nil }
            condition.wait()
        }
        let admitted = Array(waiting.prefix(max(0, config.maxBatchSize - running.count)))
        waiting.removeFirst(admitted.count)
        running += admitted
        return admitted
    }

    /// Text encoding and initial noise of a newly admitted image.
    private func begin(_ job: Job) {
        do {
            job.state = try pipeline.start(job.request)
            job.started = ContinuousClock.now
        } catch {
            fail(job.group, .invalidRequest(error.description, param: nil))
        }
    }

    private func step() {
        let chosen = StepBatch.select(
            sizes: running.map { ($0.state!.latentHeight, $0.state!.latentWidth) }, maxBatchSize: config.maxBatchSize)
        var states = chosen.map { running[$0].state! }
        let start = ContinuousClock.now
        do {
            try pipeline.denoise(&states)
        } catch {
            for i in chosen { fail(running[i].group, .failed(error.description)) }
            condition.lock()
            running.removeAll { $0.group.cancelled }
            condition.unlock()
            return
        }
        let seconds = (ContinuousClock.now - start).seconds
        condition.lock()
        counters.batchedCalls += 1
        counters.batchedSteps += chosen.count
        lastStepSeconds = seconds
        condition.unlock()
        var finished: [Int] = []
        for (k, i) in chosen.enumerated() {
            let job = running[i]
            job.state = states[k]
            job.stepSeconds += seconds
            job.group.continuation.yield(.progress(
                index: job.index, step: states[k].stepsDone, total: states[k].stepsTotal, elapsed: (ContinuousClock.now - job.group.arrival).seconds))
            if states[k].isFinished { finished.append(i) }
        }
        // Bookkeeping before the answer: a client that has its image sees it counted as finished.
        let completed = finished.map { running[$0] }
        condition.lock()
        running = running.enumerated().filter { !finished.contains($0.offset) }.map(\.element)
        completing += completed.count
        condition.unlock()
        for job in completed { complete(job) }
    }

    private func complete(_ job: Job) {
        let state = job.state!
        let image = pipeline.decode(state)
        let now = ContinuousClock.now
        let timing = ImageTiming(
            queueSeconds: ((job.started ?? now) - job.group.arrival).seconds,
            secondsPerStep: job.stepSeconds / Double(max(state.stepsTotal, 1)),
            endToEndSeconds: (now - job.group.arrival).seconds)
        job.state = nil
        condition.lock()
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
        let request: TextToImageRequest
        var state: DenoisingState?
        var started: ContinuousClock.Instant?
        var stepSeconds = 0.0

        init(group: Group, index: Int, request: TextToImageRequest) {
            self.group = group
            self.index = index
            self.request = request
        }
    }
}
