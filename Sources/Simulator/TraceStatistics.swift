import Cluster

/// Mean request shape of a trace, for the planners' reference capacities.
struct TraceStatistics {
    var meanImageTokens = 0.0
    var meanImages = 0.0
    var meanPromptTokens = 1.0
    var meanOutputTokens = 1.0

    init(trace: Trace, rule: ImageTokenRule) {
        // Images to generate are planned apart (the image pool); these are the language requests' means.
        let language = trace.requests.filter { $0.imageGeneration == nil }
        let n = Double(max(language.count, 1))
        var image = 0.0, images = 0.0, prompt = 0.0, output = 0.0
        for r in language {
            let t = Double(r.images.reduce(0) { $0 + rule.tokens(width: $1.width, height: $1.height) })
            image += t
            images += Double(r.images.count)
            prompt += Double(r.textTokens) + t
            output += Double(r.outputTokens)
        }
        meanImageTokens = image / n
        meanImages = images / n
        meanPromptTokens = max(1, prompt / n)
        meanOutputTokens = max(1, output / n)
    }
}
