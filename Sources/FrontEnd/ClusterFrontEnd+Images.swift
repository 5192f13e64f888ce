import Cluster
import Foundation
import Imaging
import ServingAPI
import Synchronization
import WireProtocol

/// What a diffusion worker reports about one image, tagged with the worker's slot.
enum ImageWorkerEvent {
    case progress(step: Int, total: Int, preview: RGBImage?)
    /// The image and where its time went on the worker.
    case generated(GeneratedImage, ImageTiming)
    case failed(ImageGenerationError)
    case workerLost
}

/// The image requests in flight on diffusion workers, and what those workers serve.
final class ImageRequestTable: Sendable {
    struct State {
        var inboxes: [Int: AsyncStream<(slot: Int, event: ImageWorkerEvent)>.Continuation] = [:]
        /// Slots each image runs on (its worker and, split, its guidance peer).
        var slots: [Int: [Int]] = [:]
        /// The model the image workers said they serve (all load the same folder).
        var model: WireImageModel?
        /// Images admitted and not yet answered, routed or not (``ClusterFrontEnd/admitImages(_:)``).
        var admitted = 0
        /// Seconds the last finished image took on its worker, for `Retry-After`.
        var lastImageSeconds = 0.0

        /// The images whose worker (not guidance peer or `controlnet` helper) is `slot`.
        func images(on slot: Int) -> Int { slots.values.reduce(0) { $0 + ($1.first == slot ? 1 : 0) } }
    }

    let state = Mutex(State())

    func deliver(_ id: Int, from slot: Int, _ event: ImageWorkerEvent) {
        _ = state.withLock { $0.inboxes[id] }?.yield((slot, event))
    }

    /// Every image running on `slot` learns its worker was lost.
    func workerLost(_ slot: Int) {
        let affected = state.withLock { s in s.slots.filter { $0.value.contains(slot) }.compactMap { s.inboxes[$0.key] } }
        for inbox in affected { inbox.yield((slot, .workerLost)) }
    }
}

/// Image generation through the topology's `image` pool: each image of a request goes to a
/// diffusion worker chosen by the topology's `imageRouter` (``DiffusionRouter``, the least loaded,
/// by default; ``AdapterAffinityRouter`` reads the LoRAs the workers' heartbeats say they cache;
/// with the pool's `cfg_split`, its unconditional UNet rows go to a second one), which batches it at step level with the others it
/// runs; progress and the finished image come back over the control connection. An image whose
/// worker dies is replayed on another (the seed makes it the same image), up to `max_retries`.
///
/// Add-ons are named as the workers registered them (`--lora`, `--controlnet`, `--adapter-dir`
/// in their arguments): an image goes to a worker that has its LoRAs, and its ControlNets run on a
/// `controlnet` worker that has them all (Katz/SwiftDiffusion §ControlNet-as-a-Service), else in
/// the image worker from its own registry. A name no worker has is `adapterNotFound`. Under a CFG
/// split an image's peer also has its LoRAs (it loads and merges them at the same step as the
/// image's worker), and its unconditional rows carry their ControlNet residuals.
///
/// Images are admitted before the request is answered, up to the queues of the active image
/// workers (`--max-queued-images` each), so a full pool is a 503 with `Retry-After` as in one
/// process, never an error inside a started stream; an image goes to a worker with room in its queue.
///
/// ```swift
/// let images = ClusterImageService(frontEnd: frontEnd)
/// for try await event in try images.submit([ImageRequest(ImageGenerationParameters(prompt: "a cat", steps: 20, seed: 1))]) { … }
/// ```
public struct ClusterImageService: ImageGenerationService {
    public let frontEnd: ClusterFrontEnd

    public init(frontEnd: ClusterFrontEnd) { self.frontEnd = frontEnd }

    var model: WireImageModel? { frontEnd.imageRequests.state.withLock { $0.model } }

    public var defaultSize: Int { model?.defaultSize ?? 512 }

    public func outputSize(_ request: ImageRequest) throws(ImageGenerationError) -> (height: Int, width: Int) {
        guard let model else { throw .overloaded(retryAfterSeconds: 1) }
        return try model.sizeRule.checkedOutputSize(width: request.width, height: request.height, initImage: request.initImage, maxPixels: model.maxPixels)
    }

    public var maxPixels: Int { model?.maxPixels ?? 1024 * 1024 }

    /// As the image workers registered it: the pool's pipeline kind is known there.
    public var defaultGuidanceScale: Float? { model?.defaultGuidanceScale }

    /// What the image pool's workers registered (whether loaded there is not known here).
    public var adapters: [AdapterListing] {
        let names = frontEnd.imagePoolAdapters()
        return names.loras.map { AdapterListing(name: $0, kind: .lora, cached: nil) }
            + names.controlNets.map { AdapterListing(name: $0, kind: .controlNet, cached: nil) }
    }

    public func submit(_ requests: [ImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error> {
        try frontEnd.submitImages(requests)
    }

    public func statistics() -> ImageEngineStatistics { frontEnd.imageStatistics() }

    /// The workers stop with the front end.
    public func shutdown(gracePeriod: Duration) async {}
}

extension ClusterFrontEnd {
    /// Whether the topology has an image pool.
    public var servesImages: Bool { topology.groups.contains { $0.group == .image } }

    func submitImages(_ images: [ImageRequest]) throws(ImageGenerationError) -> AsyncThrowingStream<ImageGenerationEvent, any Error> {
        precondition(!images.isEmpty)
        guard servesImages else { throw .invalidRequest("this cluster has no image workers", param: "model") }
        guard let model = imageRequests.state.withLock({ $0.model }) else { throw .overloaded(retryAfterSeconds: 1) }
        let registered = imagePoolAdapters()
        var jobs: [(WireImageJob, Data)] = []
        var shapes: [(steps: Int, width: Int, height: Int, guidance: Double)] = []
        for image in images {
            for (i, lora) in image.loras.enumerated() where !registered.loras.contains(lora.name) {
                throw .adapterNotFound("no LoRA named '\(lora.name)' is registered on this server's image workers (GET /v1/adapters lists them)",
                                       param: "loras[\(i)].name")
            }
            for (i, control) in image.controlNets.enumerated() where !registered.controlNets.contains(control.name) {
                throw .adapterNotFound("no ControlNet named '\(control.name)' is registered on this server's image or controlnet workers (GET /v1/adapters lists them)",
                                       param: "controlnets[\(i)].name")
            }
            let (loras, controlNets) = (Set(image.loras.map(\.name)), Set(image.controlNets.map(\.name)))
            guard shared.withLock({ s in Self.adapterRoute(s.slots, loras: loras, controlNets: controlNets, active: false) }) != nil else {
                throw .adapterNotFound("no image worker has all of this image's LoRAs and, unless a controlnet worker has them all, its ControlNets",
                                       param: image.loras.isEmpty ? "controlnets" : "loras")
            }
            guard (1 ... model.maxSteps).contains(image.steps) else {
                throw .invalidRequest("num_inference_steps must be between 1 and \(model.maxSteps), got \(image.steps)", param: "num_inference_steps")
            }
            guard image.guidanceScale.isFinite else { throw .invalidRequest("guidance_scale must be a finite number", param: "guidance_scale") }
            try image.parameters.checkSecondPrompts(secondTextEncoder: model.secondTextEncoder)
            if let folderScheduler = SchedulerKind(rawValue: model.scheduler) { try image.schedulerOverrides.check(for: image.scheduler ?? folderScheduler) }
            try image.previews.check()
            guard image.initialLatents == nil else {
                throw .invalidRequest("initial latents are not sent to diffusion workers", param: nil)
            }
            let size = try model.sizeRule.checkedOutputSize(width: image.width, height: image.height, initImage: image.initImage, maxPixels: model.maxPixels)
            shapes.append((image.steps, size.width, size.height, Double(image.guidanceScale)))
            // The init image's pixels first, then each control image's.
            let (pictures, pixels) = WireImages.pack((image.initImage.map { [$0] } ?? []) + image.controlNets.map(\.image))
            var job = WireImageJob(image.parameters, scheduler: image.scheduler?.rawValue, initImage: image.initImage == nil ? nil : pictures.first)
            (job.useKarrasSigmas, job.timestepSpacing) = (image.schedulerOverrides.useKarrasSigmas, image.schedulerOverrides.timestepSpacing?.rawValue)
            if image.previews.interval > 0 { job.previewInterval = image.previews.interval }
            if image.previews.partialImages > 0 { job.partialImages = image.previews.partialImages }
            if !image.loras.isEmpty { job.loras = image.loras }
            if !image.controlNets.isEmpty {
                job.controlNets = zip(image.controlNets, pictures.suffix(image.controlNets.count)).map { control, picture in
                    WireControlNetUse(name: control.name, scale: control.scale, start: control.start, end: control.end, image: picture)
                }
            }
            jobs.append((job, pixels))
        }
        try admitImages(jobs.count)
        let (stream, continuation) = AsyncThrowingStream<ImageGenerationEvent, any Error>.makeStream()
        let group = ImageGroup(continuation: continuation, count: jobs.count)
        let split = topology.groups.first { $0.group == .image }?.cfgSplit ?? false
        let tasks = jobs.enumerated().map { index, job in
            let (inbox, events) = AsyncStream<(slot: Int, event: ImageWorkerEvent)>.makeStream()
            let shape = shapes[index]
            // What the image router and the fleet planners see of the image, its add-ons by name.
            let info = shared.withLock { s in
                defer { s.nextRequestId += 1 }
                let generation = ImageGeneration(steps: shape.steps, width: shape.width, height: shape.height, guidanceScale: shape.guidance,
                                                 loras: (job.0.loras ?? []).map(\.name), controlNets: (job.0.controlNets ?? []).map(\.name))
                let info = ImageRequestInfo(id: s.nextRequestId, arrival: clock(), generation: generation)
                s.schedule.arrived(info)
                return info
            }
            imageRequests.state.withLock { $0.inboxes[info.id] = events }
            return Task { [self] in
                await serveImage(info, index: index, job: job.0, payload: job.1, split: split && job.0.guidanceScale > 1, group: group, inbox: inbox)
            }
        }
        // A client that left, or another image of the request that failed, stops the images still running.
        continuation.onTermination = { _ in tasks.forEach { $0.cancel() } }
        return stream
    }

    /// One image from routing to its answer, replayed on other workers when its worker is lost.
    /// The image leaves the pool's queue before its answer goes out, so a client that saw it may
    /// send the next one at once.
    private func serveImage(_ info: ImageRequestInfo, index: Int, job: WireImageJob, payload: Data, split: Bool, group: ImageGroup,
                            inbox: AsyncStream<(slot: Int, event: ImageWorkerEvent)>) async {
        let id = info.id
        var events = inbox.makeAsyncIterator()
        let outcome = await generateImage(info, job: job, payload: payload, split: split, events: &events) { step, total, preview in
            group.continuation.yield(.progress(index: index, step: step, total: total, elapsed: (ContinuousClock.now - group.arrival).seconds, preview: preview))
        }
        forgetImage(id)
        switch outcome {
        case let .success(image):
            imageRequests.state.withLock { $0.lastImageSeconds = image.timing.secondsPerStep * Double(info.steps) }
            // The worker's timing, end to end as the client sees it (routing and replays included).
            var timing = image.timing
            timing.endToEndSeconds = (ContinuousClock.now - group.arrival).seconds
            group.finished(index: index, image.image, timing)
        case let .failure(error): group.fail(error)
        }
    }

    private func generateImage(_ info: ImageRequestInfo, job: WireImageJob, payload: Data, split: Bool,
                               events: inout AsyncStream<(slot: Int, event: ImageWorkerEvent)>.AsyncIterator,
                               progress: (Int, Int, RGBImage?) -> Void) async -> Result<(image: GeneratedImage, timing: ImageTiming), ImageGenerationError> {
        let id = info.id
        var round = 0
        while true {
            do {
                return .success(try await withTaskCancellationHandler {
                    try await attemptImage(info, job, payload: payload, split: split, events: &events, progress: progress)
                } onCancel: {
                    abortImage(id)
                })
            } catch let lost as WorkerLost {
                guard round < topology.maxRetries, !Task.isCancelled else {
                    return .failure(.failed("diffusion worker \(lost.slot) failed while generating the image, and \(topology.maxRetries) retries did not finish it"))
                }
                round += 1
                shared.withLock { $0.retries += 1 }
                logger.info("image retried on another worker", metadata: ["request": "\(id)", "lost_slot": "\(lost.slot)", "retry": "\(round)"])
            } catch let error as ImageGenerationError {
                return .failure(error)
            } catch {
                return .failure(.failed("\(error)"))
            }
        }
    }

    private func attemptImage(_ info: ImageRequestInfo, _ job: WireImageJob, payload: Data, split: Bool,
                              events: inout AsyncStream<(slot: Int, event: ImageWorkerEvent)>.AsyncIterator,
                              progress: (Int, Int, RGBImage?) -> Void) async throws -> (image: GeneratedImage, timing: ImageTiming) {
        let id = info.id
        let route = try await routeImage(info, split: split)
        var job = job
        job.guidancePeer = route.peer
        job.controlNetService = route.service
        guard let connection = shared.withLock({ $0.slots[route.worker].connection }) else { throw WorkerLost(slot: route.worker) }
        do { try connection.send(.generateImage(request: id, job), payload: payload) } catch { throw WorkerLost(slot: route.worker) }
        while let (slot, event) = await events.next() {
            switch event {
            case .workerLost:
                // A lost guidance peer fails the image's next step on its worker: stop it and replay.
                if slot != route.worker { try? connection.send(.abort(request: id)) }
                throw WorkerLost(slot: slot)
            case let .progress(step, total, preview) where slot == route.worker: progress(step, total, preview)
            case let .generated(image, timing) where slot == route.worker: return (image, timing)
            case let .failed(error) where slot == route.worker:
                // The worker survived but its peer did not answer (the peer's loss arrives as well).
                if case .failed = error, let helper = route.helpers.first(where: { helper in !shared.withLock { $0.slots[helper].isActive } }) {
                    throw WorkerLost(slot: helper)
                }
                throw error
            default: continue
            }
        }
        throw CancellationError()
    }

    /// Takes `count` images into the image pool, or refuses them before anything is answered:
    /// `overloaded` while the active image workers' queues hold the images admitted so far, an
    /// invalid `n` when more than all the registered workers' queues together.
    func admitImages(_ count: Int) throws(ImageGenerationError) {
        let (ready, active, registered) = shared.withLock { s in
            let queues = s.slots.filter { $0.role == .image }.map { (active: $0.isActive, size: $0.hello?.imageModel?.maxQueuedImages ?? 0) }
            return (s.engineState == .ready, queues.filter(\.active).map(\.size), queues.reduce(0) { $0 + $1.size })
        }
        guard ready else { throw .shuttingDown }
        guard count <= registered else {
            throw .invalidRequest("this request asks for \(count) images, more than the \(registered) the image workers queue at once", param: "n")
        }
        let capacity = active.reduce(0, +)
        try imageRequests.state.withLock { (t: inout ImageRequestTable.State) throws(ImageGenerationError) in
            guard t.admitted + count <= capacity else {
                // The admitted images spread over the active workers, each as long as the last one took.
                let seconds = Double(t.admitted) * t.lastImageSeconds / Double(max(1, active.count))
                throw .overloaded(retryAfterSeconds: max(1, Int(seconds.rounded(.up))))
            }
            t.admitted += count
        }
    }

    /// The image's worker (and guidance peer) by the topology's image router, over the active
    /// image workers (``ClusterView/imageWorkers``) that have the image's add-ons and room in
    /// their queues (``WireImageModel/maxQueuedImages``), and the
    /// `controlnet` worker for its ControlNets, waiting up to the route timeout for them to be
    /// active; the image counts on each from now on.
    private func routeImage(_ info: ImageRequestInfo, split: Bool) async throws -> ImageDispatch {
        let id = info.id
        let deadline = ContinuousClock.now + options.routeTimeout
        while true {
            try Task.checkCancellation()
            let dispatch = shared.withLock { s -> ImageDispatch? in
                let view = liveCluster(s)
                let queued = imageRequests.state.withLock { t in view.imageWorkers.map { t.images(on: $0) } }
                let roomy = zip(view.imageWorkers, queued).filter { slot, images in images < s.slots[slot].hello?.imageModel?.maxQueuedImages ?? 0 }.map(\.0)
                guard let (workers, service) = Self.adapterRoute(s.slots, loras: Set(info.loras), controlNets: Set(info.controlNets), active: true),
                      let route = imageRouter.route(info, candidates: roomy.filter(workers.contains), splitGuidance: split, in: view)
                else { return nil }
                let helpers = [route.guidancePeer, service].compactMap { $0 }
                for slot in [route.worker] + helpers { s.slots[slot].assigned[id] = 0 }
                imageRequests.state.withLock { $0.slots[id] = [route.worker] + helpers }
                return ImageDispatch(route: route, peer: route.guidancePeer.flatMap { s.slots[$0].hello?.transfer },
                                     service: service.flatMap { s.slots[$0].hello?.transfer }, helpers: helpers)
            }
            if let dispatch {
                options.onImageRoute?(ImageRoutingDecision(request: id, route: dispatch.route))
                return dispatch
            }
            guard ContinuousClock.now < deadline else { throw ImageGenerationError.overloaded(retryAfterSeconds: 5) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The image workers that can run an image with these add-ons, and the `controlnet` worker for
    /// its ControlNets: the least busy one that has them all, else none (the image worker runs them
    /// and must have them). Nil when no worker can; `active` counts only workers serving now.
    static func adapterRoute(_ slots: [WorkerSlot], loras: Set<String>, controlNets: Set<String>, active: Bool) -> (workers: Set<Int>, service: Int?)? {
        func has(_ slot: WorkerSlot, _ loras: Set<String>, _ controlNets: Set<String>) -> Bool {
            let names = slot.hello?.adapters ?? WireAdapterNames()
            return slot.group == .image && (slot.isActive || !active) && loras.isSubset(of: names.loras) && controlNets.isSubset(of: names.controlNets)
        }
        let service = controlNets.isEmpty ? nil : slots.filter { $0.role == .controlnet && has($0, [], controlNets) }
            .min { ($0.assigned.count, $0.id) < ($1.assigned.count, $1.id) }?.id
        let workers = Set(slots.filter { $0.role == .image && has($0, loras, service == nil ? controlNets : []) }.map(\.id))
        return workers.isEmpty ? nil : (workers, service)
    }

    private func abortImage(_ id: Int) {
        let connections = shared.withLock { s in
            (imageRequests.state.withLock { $0.slots[id] } ?? []).compactMap { s.slots[$0].connection }
        }
        for connection in connections { try? connection.send(.abort(request: id)) }
    }

    private func forgetImage(_ id: Int) {
        let inbox = imageRequests.state.withLock { s in
            s.slots[id] = nil
            s.admitted -= 1
            return s.inboxes.removeValue(forKey: id)
        }
        inbox?.finish()
        shared.withLock { s in
            for slot in s.slots.indices { s.slots[slot].assigned[id] = nil }
        }
    }

    /// Routes a diffusion worker's message to its image; false for other messages.
    func receiveImageMessage(_ message: WireMessage, _ payload: Data, from slot: Int) -> Bool {
        switch message {
        case let .imageProgress(id, step, total, preview):
            do {
                let picture = try preview.map { try WireImages.unpack([$0], payload)[0] }
                imageRequests.deliver(id, from: slot, .progress(step: step, total: total, preview: picture))
            } catch {
                imageRequests.deliver(id, from: slot, .failed(.failed("the diffusion worker sent a malformed preview: \(error)")))
            }
        case let .imageGenerated(id, header):
            let latentCount = header.latentShape.reduce(1, *)
            guard let arrays = try? WireFloats.unpack(payload, counts: [latentCount, header.width * header.height * 3]) else {
                imageRequests.deliver(id, from: slot, .failed(.failed("the diffusion worker sent a malformed image")))
                return true
            }
            let image = GeneratedImage(latents: arrays[0], latentShape: header.latentShape, image: arrays[1], width: header.width, height: header.height)
            imageRequests.deliver(id, from: slot, .generated(image, header.timing))
        case let .imageFailed(id, error): imageRequests.deliver(id, from: slot, .failed(error.value))
        default: return false
        }
        return true
    }

    /// The LoRAs and ControlNets the image pool's workers registered, each list by name.
    func imagePoolAdapters() -> (loras: [String], controlNets: [String]) {
        shared.withLock { s in
            let names = s.slots.filter { $0.group == .image }.compactMap(\.hello?.adapters)
            return (Set(names.flatMap(\.loras)).sorted(), Set(names.flatMap(\.controlNets)).sorted())
        }
    }

    /// A diffusion worker registered: the model it serves.
    func registeredImageWorker(_ hello: WorkerHello) {
        guard let model = hello.imageModel else { return }
        imageRequests.state.withLock { $0.model = model }
    }

    /// The transfer endpoint of the worker in `slot` (where its peers reach it).
    public func workerEndpoint(slot: Int) -> Endpoint? {
        shared.withLock { s in s.slots.indices.contains(slot) ? s.slots[slot].hello?.transfer : nil }
    }

    /// Residual calls the `controlnet` workers answered and the ControlNets they loaded, as their last heartbeats said.
    public var controlNetCounters: (calls: Int, loads: Int) {
        shared.withLock { s in
            s.slots.reduce((0, 0)) { ($0.0 + ($1.load?.controlNetCalls ?? 0), $0.1 + ($1.load?.images.controlNetCache.misses ?? 0)) }
        }
    }

    /// UNet rows the image workers ran for their CFG-split peers, as their last heartbeats said.
    public var guidanceRowsServed: Int {
        shared.withLock { s in s.slots.reduce(0) { $0 + ($1.load?.guidanceRowsServed ?? 0) } }
    }

    /// LoRA merges into the image workers' weights, and the workers with LoRAs merged now (not
    /// pristine), as their last heartbeats said.
    public var loraMergeCounters: (merges: Int, mergedWorkers: Int) {
        shared.withLock { s in
            s.slots.filter { $0.role == .image }.reduce((0, 0)) {
                ($0.0 + ($1.load?.images.loraMerges ?? 0), $0.1 + ($1.load?.images.lorasMerged == true ? 1 : 0))
            }
        }
    }

    /// The image pool's counters, summed over its workers' last heartbeats (a `controlnet` worker's
    /// resident ControlNets count as the pool's ControlNet cache too).
    func imageStatistics() -> ImageEngineStatistics {
        var total = ImageEngineStatistics()
        shared.withLock { s in
            for slot in s.slots where slot.role == .image || slot.role == .controlnet {
                if let load = slot.load { total.add(load.images) }
            }
        }
        return total
    }
}

/// Where one image runs: the router's choice, the transfer endpoints of its CFG-split peer and
/// `controlnet` worker, and the slots of those helpers (whose loss replays the image).
struct ImageDispatch {
    let route: ImageRoute
    let peer: Endpoint?
    let service: Endpoint?
    let helpers: [Int]

    var worker: Int { route.worker }
}

/// The images of one submission, sharing one event stream.
final class ImageGroup: Sendable {
    let continuation: AsyncThrowingStream<ImageGenerationEvent, any Error>.Continuation
    let arrival = ContinuousClock.now
    private let remaining: Mutex<Int>

    init(continuation: AsyncThrowingStream<ImageGenerationEvent, any Error>.Continuation, count: Int) {
        self.continuation = continuation
        remaining = Mutex(count)
    }

    func finished(index: Int, _ image: GeneratedImage, _ timing: ImageTiming) {
        continuation.yield(.image(index: index, image, timing))
        if remaining.withLock({ r in
            r -= 1
            return r == 0
        }) { continuation.finish() }
    }

    func fail(_ error: ImageGenerationError) {
        continuation.finish(throwing: error)
    }
}

extension WireImageError {
    /// A diffusion worker's refusal as the images API reports it.
    var value: ImageGenerationError {
        switch self {
        case let .overloaded(seconds): .overloaded(retryAfterSeconds: seconds)
        case let .invalidRequest(message, param): .invalidRequest(message, param: param)
        case let .adapterNotFound(message, param): .adapterNotFound(message, param: param ?? "")
        case .shuttingDown: .shuttingDown
        case let .failed(message): .failed(message)
        }
    }
}

extension WireImageModel {
    /// The size arithmetic of the model the image workers serve.
    var sizeRule: ImageSizeRule { ImageSizeRule(defaultSize: defaultSize, vaeScaleFactor: vaeScaleFactor, sizeMultiple: sizeMultiple) }
}
