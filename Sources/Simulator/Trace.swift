import Cluster
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
/// JSONL form, one object per line (`slo_class` and `prompt` optional):
/// ```json
/// {"arrival": 0.42, "text_tokens": 120, "images": [{"width": 1024, "height": 768, "hash": 17}], "output_tokens": 200, "slo_class": "interactive", "prompt": "Describe the image."}
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
