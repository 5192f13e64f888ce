import Cluster
import CoreUtilities
import Foundation

/// One image of a trace request.
public struct TraceImage: Sendable, Hashable, Codable {
    public var width: Int
    public var height: Int
    /// Content hash; equal hashes mean the same image (reuse hits caches).
    public var hash: UInt64

    public init(width: Int, height: Int, hash: UInt64) {
        self.width = width
        self.height = height
        self.hash = hash
    }
}

/// One request of a workload trace.
///
/// JSONL form, one object per line (`slo_class`, `prompt`, `prefix_id` and `prefix_tokens` optional):
/// ```json
/// {"arrival": 0.42, "text_tokens": 120, "images": [{"width": 1024, "height": 768, "hash": 17}], "output_tokens": 200, "slo_class": "interactive", "prompt": "Describe the image."}
/// ```
/// A request whose text starts with a prefix other requests share (a system prompt, a few-shot
/// preamble, a document asked about several times: SGLang's "generated-shared-prefix" workload)
/// names it: its first `prefix_tokens` text tokens are the same tokens in every request naming the
/// same `prefix_id` (a string or a number), and the rest of its text is its own:
/// ```json
/// {"arrival": 3.0, "text_tokens": 1100, "prefix_id": "system-a", "prefix_tokens": 1024, "images": [], "output_tokens": 64}
/// ```
/// An image to generate carries `image_generation` instead of tokens (its `slo_class` TTFT bounds
/// the whole image):
/// ```json
/// {"arrival": 1.5, "image_generation": {"steps": 20, "width": 512, "height": 512, "guidance_scale": 7.5, "loras": ["lora-3"], "controlnets": ["canny"]}}
/// ```
public struct TraceRequest: Sendable, Hashable, Codable {
    /// Seconds since the trace start.
    public var arrival: Double
    public var textTokens: Int
    public var images: [TraceImage]
    public var outputTokens: Int
    /// Named SLO class; nil means the default class.
    public var sloClass: String?
    /// Instruction text, when known; the output-length predictor reads it.
    public var prompt: String?
    /// An image to generate; nil for language-model requests.
    public var imageGeneration: ImageGeneration?
    /// The shared prefix the text starts with, and its length in tokens; nil and nil when the text is the request's own.
    public var prefixID: String?
    public var prefixTokens: Int?

    public init(arrival: Double, textTokens: Int, images: [TraceImage], outputTokens: Int, sloClass: String? = nil, prompt: String? = nil) {
        self.arrival = arrival
        self.textTokens = textTokens
        self.images = images
        self.outputTokens = outputTokens
        self.sloClass = sloClass
        self.prompt = prompt
    }

    /// An image-generation request.
    public init(arrival: Double, imageGeneration: ImageGeneration, sloClass: String? = nil, prompt: String? = nil) {
        self.init(arrival: arrival, textTokens: 0, images: [], outputTokens: 1, sloClass: sloClass, prompt: prompt)
        self.imageGeneration = imageGeneration
    }

    enum CodingKeys: String, CodingKey {
        case arrival, images, prompt
        case textTokens = "text_tokens"
        case outputTokens = "output_tokens"
        case sloClass = "slo_class"
        case imageGeneration = "image_generation"
        case prefixID = "prefix_id"
        case prefixTokens = "prefix_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arrival = try c.decode(Double.self, forKey: .arrival)
        imageGeneration = try c.decodeIfPresent(ImageGeneration.self, forKey: .imageGeneration)
        // An image to generate has no tokens of its own.
        let isImage = imageGeneration != nil
        textTokens = try isImage ? c.decodeIfPresent(Int.self, forKey: .textTokens) ?? 0 : c.decode(Int.self, forKey: .textTokens)
        outputTokens = try isImage ? c.decodeIfPresent(Int.self, forKey: .outputTokens) ?? 1 : c.decode(Int.self, forKey: .outputTokens)
        images = try c.decodeIfPresent([TraceImage].self, forKey: .images) ?? []
        sloClass = try c.decodeIfPresent(String.self, forKey: .sloClass)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt)
        // A prefix id may be written as a number, as SGLang's group indices are.
        prefixID = try (try? c.decodeIfPresent(String.self, forKey: .prefixID)) ?? c.decodeIfPresent(Int.self, forKey: .prefixID).map(String.init)
        prefixTokens = try c.decodeIfPresent(Int.self, forKey: .prefixTokens)
    }

    func validate(file: String, line: Int) throws {
        if let g = imageGeneration {
            guard g.steps >= 1, g.width > 0, g.height > 0, g.guidanceScale.isFinite else {
                throw SimulationError.invalidTraceLine(file, line, "image_generation needs steps ≥ 1, a positive size and a finite guidance_scale")
            }
        }
        guard arrival.isFinite, arrival >= 0 else { throw SimulationError.invalidTraceLine(file, line, "arrival must be a non-negative number") }
        guard textTokens >= 0, outputTokens >= 1 else { throw SimulationError.invalidTraceLine(file, line, "text_tokens must be ≥ 0 and output_tokens ≥ 1") }
        guard images.allSatisfy({ $0.width > 0 && $0.height > 0 }) else { throw SimulationError.invalidTraceLine(file, line, "image sizes must be positive") }
        guard (prefixID == nil) == (prefixTokens == nil), (prefixTokens ?? 1) >= 1, (prefixTokens ?? 0) <= textTokens else {
            throw SimulationError.invalidTraceLine(file, line, "prefix_id and prefix_tokens go together, with 1 ≤ prefix_tokens ≤ text_tokens")
        }
    }

    /// Stand-in token ids for the request's text, `index` being its position in the trace: a trace
    /// names token counts, not tokens, so the shared prefix's tokens are ids derived from its
    /// `prefix_id` and position (the same in every request naming it) and the rest are ids no other
    /// request has. Their ``PromptBlockHashes`` are what the live front end computes from real tokens.
    func standInTokens(index: Int) -> [Int] {
        let shared = prefixTokens ?? 0
        let key = prefixID.map(FNV1a.hash) ?? 0
        var tokens = (0 ..< shared).map { position in
            var h = FNV1a()
            h.mix(key)
            h.mix(UInt64(position))
            return Int(h.value >> 1)
        }
        // Negative ids never equal a prefix's (non-negative) ones.
        tokens += repeatElement(-1 - index, count: textTokens - shared)
        return tokens
    }
}

/// A workload: requests sorted by arrival.
public struct Trace: Sendable, Hashable {
    public var requests: [TraceRequest]

    public init(requests: [TraceRequest]) {
        self.requests = requests.sorted { $0.arrival < $1.arrival }
    }

    /// Seconds from the first to the last arrival.
    public var duration: Double { (requests.last?.arrival ?? 0) - (requests.first?.arrival ?? 0) }

    /// The same requests arriving `factor` times faster (a sweep over request rates for file traces).
    public func speeded(by factor: Double) -> Trace {
        var copy = self
        for i in copy.requests.indices { copy.requests[i].arrival /= factor }
        return copy
    }
}
