import Diffusion
import Foundation
import Imaging
import ServingAPI
import Tensor
import Testing

/// One recorded diffusers pipeline run (fixtures/diffusion/pipelines/*cases.json, written by
/// scripts/fixtures/diffusion_references.py) and its reference tensors.
struct PipelineCase: CustomTestStringConvertible, Sendable {
    let name, folder, prompt: String
    let scheduler, negativePrompt: String?
    /// Scheduler settings passed to `from_config` (override-cases.json).
    let overrides: SchedulerOverrides
    /// The timesteps diffusers' scheduler ran (override-cases.json; nil where not recorded).
    let timesteps: [Double]?
    /// SDXL's `prompt_2` / `negative_prompt_2` (nil: not passed).
    let prompt2, negativePrompt2: String?
    /// Image-to-image: the init image (relative to fixtures/diffusion) and the strength.
    let image: String?
    let strength: Double?
    /// Image-to-image at `width`×`height` rather than the image's own size.
    let resize: Bool
    let guidance: Float
    let seed: UInt64
    let steps, width, height: Int
    var testDescription: String { name }

    /// The cases of `file`; none when it is missing (`casesArePresent` tests then fail).
    static func load(_ file: String) -> [PipelineCase] {
        guard let json = try? Fixtures.json(file), let cases = json["cases"] as? [[String: Any]] else { return [] }
        return cases.map {
            PipelineCase(name: $0["name"] as! String, folder: $0["folder"] as! String, prompt: $0["prompt"] as! String,
                         scheduler: $0["scheduler"] as? String, negativePrompt: $0["negative_prompt"] as? String,
                         overrides: overrides($0["overrides"] as? [String: Any] ?? [:]), timesteps: $0["timesteps"] as? [Double],
                         prompt2: $0["prompt_2"] as? String, negativePrompt2: $0["negative_prompt_2"] as? String,
                         image: $0["image"] as? String, strength: ($0["strength"] as? NSNumber)?.doubleValue,
                         resize: $0["resize"] as? Bool ?? false,
                         guidance: Float(($0["guidance_scale"] as! NSNumber).doubleValue), seed: ($0["seed"] as! NSNumber).uint64Value,
                         steps: $0["steps"] as! Int, width: $0["width"] as! Int, height: $0["height"] as! Int)
        }
    }

    /// `use_karras_sigmas` and `timestep_spacing` as the fixture passed them to `from_config`.
    private static func overrides(_ json: [String: Any]) -> SchedulerOverrides {
        SchedulerOverrides(useKarrasSigmas: json["use_karras_sigmas"] as? Bool,
                           timestepSpacing: (json["timestep_spacing"] as? String).flatMap(TimestepSpacing.init(rawValue:)))
    }

    func pipeline() throws -> StableDiffusionPipeline {
        try StableDiffusionPipeline(directory: Fixtures.diffusion.appendingPathComponent(folder))
    }

    func request() throws -> TextToImageRequest {
        var request = TextToImageRequest(prompt: prompt, negativePrompt: negativePrompt, steps: steps, guidanceScale: guidance,
                                         scheduler: try scheduler.map { try #require(SchedulerKind(rawValue: $0)) },
                                         width: width, height: height, seed: seed, strength: strength,
                                         prompt2: prompt2, negativePrompt2: negativePrompt2)
        request.schedulerOverrides = overrides
        if let image {
            request.initImage = try ImageDecoder.decode(contentsOf: Fixtures.diffusion.appendingPathComponent(image))
            // The img2img pipelines take the image's own size unless it was resized first.
            if !resize { (request.width, request.height) = (nil, nil) }
        }
        return request
    }

    /// Expects `result` to equal the reference: latents within 1e-3 relative, the image within 1e-3 absolute.
    func expectMatchesReference(_ result: GeneratedImage) throws {
        let reference = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("pipelines/\(name).safetensors"))
        #expect(result.latentShape == (try reference.info("latents")).shape)
        #expect([result.height, result.width, 3] == (try reference.info("image")).shape)
        let latentError = maxRelativeDifference(result.latents, try reference.floats("latents"))
        let imageError = maxAbsDifference(result.image, try reference.floats("image"))
        print("\(name): latents max rel error \(latentError), image max abs error \(imageError)")
        #expect(latentError < 1e-3)
        #expect(imageError < 1e-3)
    }
}
