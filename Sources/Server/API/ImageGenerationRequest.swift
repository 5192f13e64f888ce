import Diffusion
import Foundation
import Imaging

/// The body of `POST /v1/images/generations`: OpenAI's fields plus the diffusers pipeline
/// arguments peers take as extensions (`negative_prompt`, `num_inference_steps`, `guidance_scale`,
/// `seed`, `scheduler`, and `image` + `strength` for image-to-image).
struct ImageGenerationRequest: Decodable, IntegerFields {
    var model: String?
    var prompt: String
    var n: Int?
    var size: String?
    var responseFormat: String?
    var stream: Bool?
    var quality: String?
    var background: String?
    var outputFormat: String?
    var partialImages: Int?
    var negativePrompt: String?
    var numInferenceSteps: Int?
    var guidanceScale: Double?
    var seed: Int?
    var scheduler: String?
    /// Image-to-image: the image to start from (a `data:` URI, or an allowed URL) and how much of the schedule runs.
    var image: String?
    var strength: Double?

    enum CodingKeys: String, CodingKey {
        case model, prompt, n, size, stream, quality, background, seed, scheduler, image, strength
        case responseFormat = "response_format"
        case outputFormat = "output_format"
        case partialImages = "partial_images"
        case negativePrompt = "negative_prompt"
        case numInferenceSteps = "num_inference_steps"
        case guidanceScale = "guidance_scale"
    }

    static let integerFields = ["n", "num_inference_steps", "seed", "partial_images"]

    /// Every field read; `user` is accepted as everywhere. The add-on fields are named so that their
    /// refusal says what is missing instead of "unknown parameter".
    static let fields: Set<String> = Set(CodingKeys.allNames + ["loras", "controlnets"])

    /// Fields of the API that this server's pipeline cannot honour yet, refused by name.
    static let unsupported: [String: String] = [
        "loras": "LoRA adapters are not supported by this server's diffusion pipeline yet",
        "controlnets": "ControlNets are not supported by this server's diffusion pipeline yet",
    ]

    static let maxImages = 10

    /// Largest `n` OpenAI accepts, the default steps and guidance of diffusers' pipeline.
    static let defaultSteps = 50
    static let defaultGuidance = 7.5

    /// The pipeline requests (one per image; image `i` uses `seed + i`), after every check that
    /// needs no model. `defaultSize` answers `size: "auto"` or no size (without an init image, whose
    /// size it then is); `initImage` is `image` decoded.
    func pipelineRequests(defaultSize: Int, initImage: RGBImage?) throws(APIError) -> [TextToImageRequest] {
        let n = n ?? 1
        guard (1 ... Self.maxImages).contains(n) else {
            throw .invalidRequest("n must be between 1 and \(Self.maxImages), got \(n)", param: "n", code: "invalid_value")
        }
        switch responseFormat {
        case nil, "b64_json": break
        case "url":
            throw .invalidRequest(
                "response_format 'url' needs an output store to serve the images from, and this server has none; use 'b64_json'",
                param: "response_format", code: "unsupported_value")
        case let other?:
            throw .invalidRequest("response_format must be 'b64_json' or 'url', got '\(APIError.excerpt(other))'", param: "response_format", code: "invalid_value")
        }
        if let quality, quality != "auto" {
            throw .invalidRequest("quality '\(APIError.excerpt(quality))' is not offered: the steps are set by num_inference_steps; use 'auto'",
                                  param: "quality", code: "unsupported_value")
        }
        if let background, background != "auto" && background != "opaque" {
            throw .invalidRequest("background must be 'auto' or 'opaque': generated images have no transparency", param: "background", code: "unsupported_value")
        }
        if let outputFormat, outputFormat != "png" {
            throw .invalidRequest("output_format must be 'png', got '\(APIError.excerpt(outputFormat))'", param: "output_format", code: "unsupported_value")
        }
        if let partialImages, partialImages != 0 {
            throw .invalidRequest("partial_images (previews while streaming) are not supported; streams send progress events and the final image",
                                  param: "partial_images", code: "unsupported_value")
        }
        if let strength, !(0 ... 1).contains(strength) {
            throw .invalidRequest("strength must be between 0 and 1, got \(strength)", param: "strength", code: "invalid_value")
        }
        if strength != nil, image == nil {
            throw .invalidRequest("strength applies to image-to-image; give 'image' too", param: "strength", code: "invalid_value")
        }
        let (width, height): (Int?, Int?) = if initImage != nil, size == nil || size == "auto" {
            (nil, nil)
        } else {
            try Self.dimensions(size, defaultSize: defaultSize)
        }
        let scheduler: SchedulerKind? = try self.scheduler.map { name throws(APIError) in
            guard let kind = SchedulerKind(rawValue: name) else {
                throw .invalidRequest(
                    "unknown scheduler '\(APIError.excerpt(name))'; use one of \(SchedulerKind.allCases.map(\.rawValue).joined(separator: ", "))",
                    param: "scheduler", code: "invalid_value")
            }
            return kind
        }
        let guidance = guidanceScale ?? Self.defaultGuidance
        guard guidance.isFinite, abs(guidance) < 1e6 else {
            throw .invalidRequest("guidance_scale must be a finite number", param: "guidance_scale", code: "invalid_value")
        }
        let seed = seed ?? Int.random(in: 0 ... Int(Int32.max))
        guard seed >= 0, seed <= Int.max - Self.maxImages else {
            throw .invalidRequest("seed must be between 0 and \(Int.max - Self.maxImages), got \(seed)", param: "seed", code: "invalid_value")
        }
        return (0 ..< n).map { i in
            TextToImageRequest(prompt: prompt, negativePrompt: negativePrompt, steps: numInferenceSteps ?? Self.defaultSteps,
                               guidanceScale: Float(guidance), scheduler: scheduler, width: width, height: height, seed: UInt64(seed + i),
                               initImage: initImage, strength: strength)
        }
    }

    /// `"WIDTHxHEIGHT"` (or `auto`) as pixels.
    static func dimensions(_ size: String?, defaultSize: Int) throws(APIError) -> (width: Int, height: Int) {
        guard let size, size != "auto" else { return (defaultSize, defaultSize) }
        let parts = size.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]), width > 0, height > 0 else {
            throw .invalidRequest("size must be 'WIDTHxHEIGHT' (e.g. '512x512') or 'auto', got '\(APIError.excerpt(size))'",
                                  param: "size", code: "invalid_value")
        }
        return (width, height)
    }
}

extension ImageGenerationRequest.CodingKeys: CaseIterable {
    static var allNames: [String] { allCases.map(\.rawValue) }
}
