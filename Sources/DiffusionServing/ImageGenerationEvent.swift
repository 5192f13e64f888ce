import Diffusion

/// What a submitted group of images reports, in order: progress after each step of each image, and
/// each image once decoded. `index` is the image's place in the group (OpenAI's `n`).
public enum ImageGenerationEvent: Sendable {
    /// Image `index` finished step `step` of `total`; `elapsed` seconds since the group arrived.
    case progress(index: Int, step: Int, total: Int, elapsed: Double)
    case image(index: Int, GeneratedImage, ImageTiming)
}

/// Where one image's time went.
public struct ImageTiming: Sendable, Equatable {
    /// Arrival to the first step (waiting for a batch slot, then text encoding).
    public var queueSeconds: Double
    /// Seconds per denoising step, averaged over the image's steps (its share of shared UNet calls is the whole call).
    public var secondsPerStep: Double
    /// Arrival to the decoded image.
    public var endToEndSeconds: Double

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
    case shuttingDown
    /// The pipeline failed on a valid request.
    case failed(String)

    public var description: String {
        switch self {
        case let .overloaded(seconds): "the image queue is full; retry in about \(seconds) s"
        case let .invalidRequest(message, _): message
        case .shuttingDown: "the server is shutting down"
        case let .failed(message): "image generation failed: \(message)"
        }
    }
}

/// A snapshot of the engine's queues and counters.
public struct ImageEngineStatistics: Sendable, Equatable {
    public var waitingImages = 0
    public var runningImages = 0
    public var finishedImages = 0
    public var cancelledImages = 0
    /// Submissions refused because the queue was full.
    public var rejectedGroups = 0
    /// UNet calls made and the image-steps they advanced (their ratio is the mean batch size).
    public var batchedCalls = 0
    public var batchedSteps = 0

    public init() {}
}
