import ServingAPI

/// `FinishInfo` on the wire.
public struct WireFinish: Codable, Sendable {
    var reason: FinishReason
    var promptTokens: Int
    var completionTokens: Int
    var cachedTokens: Int
    var queued: Double
    var firstToken: Double
    var total: Double

    public init(_ f: FinishInfo) {
        reason = f.reason
        promptTokens = f.promptTokens
        completionTokens = f.completionTokens
        cachedTokens = f.cachedTokens
        queued = f.timings.queued
        firstToken = f.timings.firstToken
        total = f.timings.total
    }

    public var value: FinishInfo {
        var timings = RequestTimings()
        timings.queued = queued
        timings.firstToken = firstToken
        timings.total = total
        return FinishInfo(reason: reason, promptTokens: promptTokens, completionTokens: completionTokens, cachedTokens: cachedTokens, timings: timings)
    }
}

