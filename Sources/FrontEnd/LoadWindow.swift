import Cluster
import CoreUtilities

/// Offered load and SLO attainment since the last planning round, as the fleet planners observe it.
struct LoadWindow {
    var start = ContinuousClock.now
    var requests: [ModalityGroup: Int] = [:]
    var promptTokens: [ModalityGroup: Int] = [:]
    var imageCount: [ModalityGroup: Int] = [:]
    var outputTokens: [ModalityGroup: Int] = [:]
    var firstTokens = 0
    var metTTFT = 0
    /// Time-to-first-token objective for attainment.
    var ttftSLO = 2.0

    mutating func arrived(_ group: ModalityGroup, promptTokens tokens: Int, images: Int) {
        requests[group, default: 0] += 1
        promptTokens[group, default: 0] += tokens
        imageCount[group, default: 0] += images
    }

    mutating func firstToken(after seconds: Double) {
        firstTokens += 1
        if seconds <= ttftSLO { metTTFT += 1 }
    }

    mutating func finished(_ group: ModalityGroup, outputTokens tokens: Int) { outputTokens[group, default: 0] += tokens }

    /// The window's rates per modality group, then a fresh window. Image load counts images (the
    /// front end does not know their token counts before a worker preprocesses them).
    mutating func close() -> LoadObservation {
        let seconds = max(1e-3, (ContinuousClock.now - start).seconds)
        var perGroup: [ModalityGroup: StageLoad] = [:]
        for group in ModalityGroup.allCases {
            perGroup[group] = StageLoad(
                requestsPerSecond: Double(requests[group, default: 0]) / seconds,
                imageTokensPerSecond: Double(imageCount[group, default: 0]) / seconds,
                prefillTokensPerSecond: Double(promptTokens[group, default: 0]) / seconds,
                decodeTokensPerSecond: Double(outputTokens[group, default: 0]) / seconds)
        }
        let attainment = firstTokens > 0 ? Double(metTTFT) / Double(firstTokens) : nil
        let slo = ttftSLO
        self = LoadWindow()
        ttftSLO = slo
        return LoadObservation(window: seconds, perGroup: perGroup, sloAttainment: attainment)
    }
}
