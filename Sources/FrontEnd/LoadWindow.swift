import Cluster

/// Offered load and SLO attainment since the last planning round, as the fleet planners observe it.
struct LoadWindow {
    var start = ContinuousClock.now
    var requests = 0
    var promptTokens = 0
    var outputTokens = 0
    var firstTokens = 0
    var metTTFT = 0
    /// Time-to-first-token objective for attainment.
    var ttftSLO = 2.0

    mutating func arrived(promptTokens tokens: Int) {
        requests += 1
        promptTokens += tokens
    }

    mutating func firstToken(after seconds: Double) {
        firstTokens += 1
        if seconds <= ttftSLO { metTTFT += 1 }
    }

    mutating func finished(outputTokens tokens: Int) { outputTokens += tokens }

    /// The window's rates (text requests only reach the workers for now), then a fresh window.
    mutating func close() -> LoadObservation {
        let seconds = max(1e-3, (ContinuousClock.now - start).seconds)
        let load = StageLoad(
            requestsPerSecond: Double(requests) / seconds, imageTokensPerSecond: 0,
            prefillTokensPerSecond: Double(promptTokens) / seconds, decodeTokensPerSecond: Double(outputTokens) / seconds)
        let attainment = firstTokens > 0 ? Double(metTTFT) / Double(firstTokens) : nil
        let slo = ttftSLO
        self = LoadWindow()
        ttftSLO = slo
        return LoadObservation(window: seconds, perGroup: [.text: load], sloAttainment: attainment)
    }
}
