import Foundation
import Imaging
import ServingAPI

/// The body of `POST /v1/images/generations`: OpenAI's fields plus the diffusers pipeline
/// arguments peers take as extensions (`negative_prompt`, SDXL's `prompt_2` and `negative_prompt_2`,
/// `num_inference_steps`, `guidance_scale`, `seed`, `scheduler` with `use_karras_sigmas` and `timestep_spacing` over the folder's
/// scheduler config (diffusers' `from_config` keyword arguments), `image` + `strength` for image-to-image, and the registered add-ons
/// `loras: [{name, scale}]` and `controlnets: [{name, image, scale, start, end}]`), and
/// `preview_interval`: with `stream: true`, every this many steps a progress event carries a
/// low-resolution preview of the latents (``LatentPreview``); OpenAI's `partial_images` (0–3, with
/// `stream: true`) sends such previews as `image_generation.partial_image` events, spread over the steps.
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
    /// SDXL: the texts for the second text encoder (default: `prompt`, `negative_prompt`).
    var prompt2: String?
    var negativePrompt2: String?
    var numInferenceSteps: Int?
    var guidanceScale: Double?
    var seed: Int?
    var scheduler: String?
    var useKarrasSigmas: Bool?
    var timestepSpacing: String?
    /// Image-to-image: the image to start from (a `data:` URI, or an allowed URL) and how much of the schedule runs.
    var image: String?
    var strength: Double?
    var loras: [LoRAField]?
    var controlnets: [ControlNetField]?
    var previewInterval: Int?

    /// A registered LoRA and its scale (default 1).
    struct LoRAField: Decodable {
        var name: String
        var scale: Double?
        static let fields: Set<String> = ["name", "scale"]
    }

    /// A registered ControlNet, its control image (a `data:` URI or an allowed URL), its scale
    /// (default 1) and the fraction of the steps it acts on (default 0 to 1).
    struct ControlNetField: Decodable {
        var name: String
        var image: String
        var scale: Double?
        var start: Double?
        var end: Double?
        static let fields: Set<String> = ["name", "image", "scale", "start", "end"]
    }

    enum CodingKeys: String, CodingKey {
        case model, prompt, n, size, stream, quality, background, seed, scheduler, image, strength, loras, controlnets
        case responseFormat = "response_format"
        case outputFormat = "output_format"
        case partialImages = "partial_images"
        case negativePrompt = "negative_prompt"
        case prompt2 = "prompt_2"
        case negativePrompt2 = "negative_prompt_2"
        case numInferenceSteps = "num_inference_steps"
        case guidanceScale = "guidance_scale"
        case previewInterval = "preview_interval"
        case useKarrasSigmas = "use_karras_sigmas"
        case timestepSpacing = "timestep_spacing"
    }

    static let integerFields = ["n", "num_inference_steps", "seed", "partial_images", "preview_interval"]

    /// Every field read; `user` is accepted as everywhere.
    static let fields: Set<String> = Set(CodingKeys.allNames)

    /// The fields of each `loras` and `controlnets` entry are checked too: none is ignored.
    static func checkAddOnFields(_ body: Data) throws(APIError) {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return }
        for (field, known) in [("loras", LoRAField.fields), ("controlnets", ControlNetField.fields)] {
            guard let entries = object[field] as? [Any] else { continue }
            for (i, entry) in entries.enumerated() {
                guard let entry = entry as? [String: Any] else {
                    throw .invalidRequest("\(field)[\(i)] must be an object", param: "\(field)[\(i)]", code: "invalid_type")
                }
                if let unknown = entry.keys.filter({ !known.contains($0) }).sorted().first {
                    throw .invalidRequest("unsupported parameter '\(APIError.excerpt(unknown))' in \(field)[\(i)]; its fields are \(known.sorted().joined(separator: ", "))",
                                          param: "\(field)[\(i)].\(APIError.excerpt(unknown))", code: "unsupported_parameter")
                }
            }
        }
    }

    /// The add-ons as the engine takes them; `controlImages` are the decoded `controlnets[i].image`.
    func addOns(controlImages: [RGBImage]) throws(APIError) -> (loras: [LoRAUse], controlNets: [ControlNetUse]) {
        func number(_ value: Double?, _ fallback: Double, _ param: String) throws(APIError) -> Float {
            let value = value ?? fallback
            guard value.isFinite, abs(value) < 1e6 else {
                throw .invalidRequest("\(param) must be a finite number", param: param, code: "invalid_value")
            }
            return Float(value)
        }
        var loraUses: [LoRAUse] = []
        for (i, lora) in (loras ?? []).enumerated() {
            loraUses.append(LoRAUse(name: lora.name, scale: try number(lora.scale, 1, "loras[\(i)].scale")))
        }
        var controls: [ControlNetUse] = []
        for (i, control) in (controlnets ?? []).enumerated() {
            let scale = try number(control.scale, 1, "controlnets[\(i)].scale")
            let start = try number(control.start, 0, "controlnets[\(i)].start"), end = try number(control.end, 1, "controlnets[\(i)].end")
            guard start >= 0, end <= 1, start < end else {
                throw .invalidRequest("controlnets[\(i)]: start \(start) and end \(end) must satisfy 0 ≤ start < end ≤ 1",
                                      param: "controlnets[\(i)].start", code: "invalid_value")
            }
            controls.append(ControlNetUse(name: control.name, image: controlImages[i], scale: scale, start: start, end: end))
        }
        return (loraUses, controls)
    }

    static let maxImages = 10

    /// Largest `n` OpenAI accepts, the default steps of diffusers' pipeline.
    static let defaultSteps = 50

    /// The image requests (one per image; image `i` uses `seed + i`, each with the add-ons and
    /// previews asked for), after every check that needs no model. `defaultSize` answers `size: "auto"` or no size (without an init image, whose
    /// size it then is), `defaultGuidance` no `guidance_scale` (the served pipeline's); `initImage` is `image` decoded,
    /// `addOns` what ``addOns(controlImages:)`` made of `loras` and `controlnets`.
    func imageRequests(defaultSize: Int, defaultGuidance: Float, initImage: RGBImage?,
                       addOns: (loras: [LoRAUse], controlNets: [ControlNetUse])) throws(APIError) -> [ImageRequest] {
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
        if let partialImages {
            guard (0 ... ImagePreviews.maxPartialImages).contains(partialImages) else {
                throw .invalidRequest("partial_images must be between 0 and \(ImagePreviews.maxPartialImages), got \(partialImages)",
                                      param: "partial_images", code: "invalid_value")
            }
            guard stream == true || partialImages == 0 else {
                throw .invalidRequest("partial images are stream events; set stream: true", param: "partial_images", code: "invalid_value")
            }
        }
        if let previewInterval {
            guard stream == true else {
                throw .invalidRequest("preview_interval adds previews to progress events, which only stream: true sends", param: "preview_interval",
                                      code: "invalid_value")
            }
            let steps = numInferenceSteps ?? Self.defaultSteps
            guard (1 ... max(1, steps)).contains(previewInterval) else {
                throw .invalidRequest("preview_interval must be between 1 and num_inference_steps (\(steps)), got \(previewInterval)",
                                      param: "preview_interval", code: "invalid_value")
            }
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
        let spacing: TimestepSpacing? = try timestepSpacing.map { name throws(APIError) in
            guard let spacing = TimestepSpacing(rawValue: name) else {
                throw .invalidRequest(
                    "timestep_spacing must be one of \(TimestepSpacing.allCases.map(\.rawValue).joined(separator: ", ")), got '\(APIError.excerpt(name))'",
                    param: "timestep_spacing", code: "invalid_value")
            }
            return spacing
        }
        let guidance = guidanceScale ?? Double(defaultGuidance)
        guard guidance.isFinite, abs(guidance) < 1e6 else {
            throw .invalidRequest("guidance_scale must be a finite number", param: "guidance_scale", code: "invalid_value")
        }
        let seed = seed ?? Int.random(in: 0 ... Int(Int32.max))
        guard seed >= 0, seed <= Int.max - Self.maxImages else {
            throw .invalidRequest("seed must be between 0 and \(Int.max - Self.maxImages), got \(seed)", param: "seed", code: "invalid_value")
        }
        let previews = ImagePreviews(interval: previewInterval ?? 0, partialImages: partialImages ?? 0)
        return (0 ..< n).map { i in
            ImageRequest(ImageGenerationParameters(prompt: prompt, negativePrompt: negativePrompt, prompt2: prompt2, negativePrompt2: negativePrompt2,
                                                   steps: numInferenceSteps ?? Self.defaultSteps, guidanceScale: Float(guidance), width: width,
                                                   height: height, seed: UInt64(seed + i), strength: strength),
                         scheduler: scheduler, schedulerOverrides: SchedulerOverrides(useKarrasSigmas: useKarrasSigmas, timestepSpacing: spacing),
                         initImage: initImage, loras: addOns.loras, controlNets: addOns.controlNets, previews: previews)
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
