import CoreUtilities

/// One image of a request, as the front end sees it before encoding.
public struct ImageInput: Sendable, Hashable, Codable {
    public var width: Int
    public var height: Int
    /// LLM-visible tokens this image expands to (computed ahead of time from its size, as ModServe does).
    public var tokens: Int
    /// The image's identity; identical images share it, which is what the encoder and prefix caches key on.
    public var id: ImageID

    public init(width: Int, height: Int, tokens: Int, id: ImageID) {
        self.width = width
        self.height = height
        self.tokens = tokens
        self.id = id
    }
}

/// Latency objectives of a request, in seconds.
public struct LatencySLO: Sendable, Hashable, Codable {
    /// Time to first token.
    public var ttft: Double
    /// Mean time per output token after the first.
    public var tpot: Double

    public init(ttft: Double, tpot: Double) {
        self.ttft = ttft
        self.tpot = tpot
    }

    /// Whether a request that waited `ttft` for its first token and `duration` more for the rest
    /// of its `outputTokens` met the objective (TPOT as the mean time per token after the first).
    public func isMet(ttft: Double, duration: Double, outputTokens: Int) -> Bool {
        let tpot = outputTokens > 1 ? duration / Double(outputTokens - 1) : 0
        return ttft <= self.ttft && tpot <= self.tpot
    }
}

/// What every policy may know about a request: sizes, images, objectives and a *predicted* output length.
/// The true output length is deliberately absent; a live front end cannot know it.
public struct RequestInfo: Sendable, Hashable {
    public var id: Int
    /// Arrival time in seconds on the cluster clock.
    public var arrival: Double
    public var textTokens: Int
    public var images: [ImageInput]
    public var slo: LatencySLO
    /// Output length predicted by an ``OutputLengthPredictor`` (or a default when none runs).
    public var predictedOutputTokens: Int
    /// The prompt's chained block hashes (``PromptBlockHashes``) for cache-aware routing; empty when unknown.
    public var promptBlockHashes: [UInt64] = []

    public init(id: Int, arrival: Double, textTokens: Int, images: [ImageInput], slo: LatencySLO, predictedOutputTokens: Int) {
        self.id = id
        self.arrival = arrival
        self.textTokens = textTokens
        self.images = images
        self.slo = slo
        self.predictedOutputTokens = predictedOutputTokens
    }

    /// Image tokens over all images.
    public var imageTokens: Int { images.reduce(0) { $0 + $1.tokens } }
    /// Tokens the prefill stage processes: text plus image tokens.
    public var promptTokens: Int { textTokens + imageTokens }
    /// The modality group a request belongs to.
    public var group: ModalityGroup { images.isEmpty ? .text : .multimodal }
}
