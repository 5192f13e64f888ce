import CoreUtilities
import ServingAPI
import WireProtocol

/// A worker's news about one request, as the request's pipeline receives it.
enum WorkerEvent: Sendable {
    /// The prompt's KV is parked; `prompt` has the image placeholders expanded; `imageTimings`
    /// are the prefill worker's, per image in prompt order.
    case prefilled(handle: Int, positions: Int, cachedTokens: Int, prompt: [Int], imageSpans: [ImageSpan], imageTimings: [ImageStageTimings])
    /// An encode worker holds these images' features; `timings` are its, per image.
    case encoded(imageIDs: [ImageID], timings: [ImageStageTimings])
    case delta(TokenDelta)
    case finished(FinishInfo)
    case failed(EngineError)
    /// The worker died or hung; whatever it held for the request is gone.
    case workerLost
}

/// Events tagged with the slot they came from, so a retried request ignores a dead worker's stragglers.
struct SlotEvent: Sendable {
    var slot: Int
    var event: WorkerEvent
}

/// A request's worker was lost; the pipeline retries it on a sibling.
struct WorkerLost: Error {
    var slot: Int
}
