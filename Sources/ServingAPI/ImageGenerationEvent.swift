import Cluster
import Imaging

/// What a submitted group of images reports, in order: progress after each step of each image, and
/// each image once decoded. `index` is the image's place in the group (OpenAI's `n`).
public enum ImageGenerationEvent: Sendable {
    /// Image `index` finished step `step` of `total`; `elapsed` seconds since the group arrived.
    /// `preview`: its latents as a ``LatentPreview``, on the steps its ``ImageRequest/previews`` ask for.
    case progress(index: Int, step: Int, total: Int, elapsed: Double, preview: RGBImage? = nil)
    case image(index: Int, GeneratedImage, ImageTiming)
}

/// Where one image's time went.
public struct ImageTiming: Sendable, Hashable, Codable {
    /// Arrival to the first step (waiting for a batch slot, then text encoding).
    public var queueSeconds: Double
    /// Seconds per denoising step, averaged over the image's steps (its share of shared UNet calls is the whole call).
    public var secondsPerStep: Double
    /// Arrival to the decoded image.
    public var endToEndSeconds: Double
    /// Reading and parsing its LoRA files (0 when all came from the cache), done while steps ran.
    public var loraLoadSeconds = 0.0
    /// How long its steps waited for LoRAs still loading when they were due (late loads).
    public var loraWaitSeconds = 0.0
    /// Merging LoRAs into the weights and restoring them, in the batches it rode in.
    public var loraMergeSeconds = 0.0
    /// Loading its ControlNets (0 on cache hits) and running them over all its steps (with a
    /// ControlNet service: waiting for their residuals past what the UNet's down pass overlapped).
    public var controlNetSeconds = 0.0

    public init(queueSeconds: Double, secondsPerStep: Double, endToEndSeconds: Double) {
        self.queueSeconds = queueSeconds
        self.secondsPerStep = secondsPerStep
        self.endToEndSeconds = endToEndSeconds
    }
}

/// Why the engine refused or failed a group.
public enum ImageGenerationError: Error, Equatable, CustomStringConvertible {
    /// The waiting queue is full; retry after about this many seconds.
    case overloaded(retryAfterSeconds: Int)
    /// The request cannot be served as asked (the client's mistake); `param` names the field.
    case invalidRequest(String, param: String?)
    /// The request names an adapter this server has not registered; `param` names the field.
    case adapterNotFound(String, param: String)
    case shuttingDown
    /// The pipeline failed on a valid request.
    case failed(String)

    public var description: String {
        switch self {
        case let .overloaded(seconds): "the image queue is full; retry in about \(seconds) s"
        case let .invalidRequest(message, _), let .adapterNotFound(message, _): message
        case .shuttingDown: "the server is shutting down"
        case let .failed(message): "image generation failed: \(message)"
        }
    }
}

/// A snapshot of the engine's queues and counters (a diffusion worker's go to the front end with
/// its heartbeats, which sums its pool's with ``add(_:)``).
public struct ImageEngineStatistics: Sendable, Hashable, Codable {
    public var waitingImages = 0
    public var runningImages = 0
    public var finishedImages = 0
    public var cancelledImages = 0
    /// Submissions refused because the queue was full.
    public var rejectedGroups = 0
    /// UNet calls made and the image-steps they advanced (their ratio is the mean batch size).
    public var batchedCalls = 0
    public var batchedSteps = 0
    /// UNet calls whose rows shared one LoRA set merged into the weights, and those with rows'
    /// LoRAs unmerged (mixed batches); calls without LoRAs count in neither.
    public var mergedLoRACalls = 0
    public var unmergedLoRACalls = 0
    /// Times LoRAs were merged into the UNet's weights (the pipeline's `loraMerges`), and
    /// whether some are merged now (false: the weights are pristine).
    public var loraMerges = 0
    public var lorasMerged = false
    /// CFG-split leaders' images whose rows this engine runs now.
    public var guestImages = 0
    /// The activation memory the running images need by the engine's measurements, its budget,
    /// and the images that waited in the queue for memory while a batch slot was free.
    public var memoryNeededBytes = 0
    public var memoryBudgetBytes = 0
    public var memoryWaits = 0
    /// Add-on cache lookups answered from memory and those that loaded, per kind.
    public var loraCache = AdapterCacheCounters()
    public var controlNetCache = AdapterCacheCounters()
    /// Where the engine loop's time went, summed since it started.
    public var loopSeconds = ImageLoopSeconds()

    public init() {}

    /// Adds another engine's queues and counters (a pool's workers summed); LoRAs count as merged
    /// when they are in either.
    public mutating func add(_ other: ImageEngineStatistics) {
        waitingImages += other.waitingImages
        runningImages += other.runningImages
        finishedImages += other.finishedImages
        cancelledImages += other.cancelledImages
        rejectedGroups += other.rejectedGroups
        batchedCalls += other.batchedCalls
        batchedSteps += other.batchedSteps
        mergedLoRACalls += other.mergedLoRACalls
        unmergedLoRACalls += other.unmergedLoRACalls
        loraMerges += other.loraMerges
        lorasMerged = lorasMerged || other.lorasMerged
        guestImages += other.guestImages
        memoryNeededBytes += other.memoryNeededBytes
        memoryBudgetBytes += other.memoryBudgetBytes
        memoryWaits += other.memoryWaits
        loraCache.add(other.loraCache)
        controlNetCache.add(other.controlNetCache)
        loopSeconds += other.loopSeconds
    }
}

/// Add-on cache lookups answered from memory (`hits`) and those that had to load (`misses`).
public struct AdapterCacheCounters: Sendable, Hashable, Codable {
    public var hits = 0
    public var misses = 0

    public init(hits: Int = 0, misses: Int = 0) {
        self.hits = hits
        self.misses = misses
    }

    /// Adds another cache's counts (a pool's workers summed).
    public mutating func add(_ other: AdapterCacheCounters) {
        hits += other.hits
        misses += other.misses
    }
}

/// A generated image: the final latents (before VAE decoding) and the image as diffusers'
/// `output_type="np"`.
public struct GeneratedImage: Sendable {
    /// 1×C×h×w, row-major.
    public let latents: [Float]
    public let latentShape: [Int]
    /// height × width × 3 in [0, 1].
    public let image: [Float]
    public let width: Int
    public let height: Int

    public init(latents: [Float], latentShape: [Int], image: [Float], width: Int, height: Int) {
        self.latents = latents
        self.latentShape = latentShape
        self.image = image
        self.width = width
        self.height = height
    }

    /// 8-bit RGB as diffusers' `numpy_to_pil`: (x·255).round(), ties to even as NumPy.
    public var rgb8: [UInt8] { image.map { UInt8(($0 * 255).rounded(.toNearestOrEven)) } }
}
