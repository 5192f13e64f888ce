import Grammar
import ServingAPI

/// `SamplingParameters` on the wire.
public struct WireSamplingParameters: Codable, Sendable, Hashable {
    var temperature: Float
    var topK: Int
    var topP: Float
    var minP: Float
    var presencePenalty: Float
    var frequencyPenalty: Float
    var seed: UInt64?
    var maxTokens: Int
    var stopTokenIds: [Int]
    var stopStrings: [String]
    var topLogprobs: Int?
    var ignoreStopTokens: Bool
    var logitBias: [Int: Float]
    var grammar: GrammarSpec?
    var promptLogprobs: Int?

    public init(_ p: SamplingParameters) {
        temperature = p.temperature
        topK = p.topK
        topP = p.topP
        minP = p.minP
        presencePenalty = p.presencePenalty
        frequencyPenalty = p.frequencyPenalty
        seed = p.seed
        maxTokens = p.maxTokens
        stopTokenIds = p.stopTokenIds.sorted()
        stopStrings = p.stopStrings
        topLogprobs = p.topLogprobs
        ignoreStopTokens = p.ignoreStopTokens
        logitBias = p.logitBias
        grammar = p.grammar
        promptLogprobs = p.promptLogprobs
    }

    public var value: SamplingParameters {
        SamplingParameters(
            temperature: temperature, topK: topK, topP: topP, minP: minP, presencePenalty: presencePenalty,
            frequencyPenalty: frequencyPenalty, seed: seed, maxTokens: maxTokens, stopTokenIds: Set(stopTokenIds),
            stopStrings: stopStrings, topLogprobs: topLogprobs, ignoreStopTokens: ignoreStopTokens, logitBias: logitBias,
            grammar: grammar, promptLogprobs: promptLogprobs)
    }
}

/// `TokenDelta` on the wire.
public struct WireDelta: Codable, Sendable {
    var tokenIds: [Int]
    var text: String
    var logprobs: [WireTokenLogprobs]
    var promptLogprobs: [WireTokenLogprobs]?

    struct WireTokenLogprobs: Codable, Sendable {
        var token: TokenLogprob
        var top: [TokenLogprob]
    }

    public init(_ d: TokenDelta) {
        tokenIds = d.tokenIds
        text = d.text
        logprobs = d.logprobs.map { WireTokenLogprobs(token: $0.token, top: $0.top) }
        promptLogprobs = d.promptLogprobs?.map { WireTokenLogprobs(token: $0.token, top: $0.top) }
    }

    public var value: TokenDelta {
        TokenDelta(tokenIds: tokenIds, text: text, logprobs: logprobs.map { TokenLogprobs(token: $0.token, top: $0.top) },
                   promptLogprobs: promptLogprobs?.map { TokenLogprobs(token: $0.token, top: $0.top) })
    }
}

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

