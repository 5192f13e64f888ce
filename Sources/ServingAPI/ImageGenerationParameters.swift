/// What an image to generate asks for by value, with the meaning of diffusers' pipeline arguments
/// of the same names: the one home of these fields for the API's ``ImageRequest``, the pipeline's
/// `TextToImageRequest` and the `WireImageJob` a front end sends a diffusion worker, which all hold
/// one and read its fields as their own (`request.prompt`).
///
/// ```swift
/// var p = ImageGenerationParameters(prompt: "a red cube", steps: 20, guidanceScale: 7.5, seed: 1)
/// p.negativePrompt = "blurry"
/// p.width = 512
/// ```
public struct ImageGenerationParameters: Sendable, Hashable, Codable {
    public var prompt: String
    /// `nil`: the empty prompt, as diffusers.
    public var negativePrompt: String?
    /// SDXL's text for the second text encoder (diffusers' `prompt_2`); `nil` or empty: `prompt`.
    public var prompt2: String?
    /// SDXL's negative text for the second text encoder (`negative_prompt_2`); `nil` or empty: the negative prompt.
    public var negativePrompt2: String?
    public var steps: Int
    public var guidanceScale: Float
    /// `nil`: the model's default size.
    public var width: Int?
    public var height: Int?
    public var seed: UInt64
    /// Image-to-image: how much of the schedule runs (0…1); `nil`: the pipeline's default
    /// (0.8 for SD 1.x/2.x, 0.3 for SDXL, as diffusers).
    public var strength: Double?

    public init(prompt: String, negativePrompt: String? = nil, prompt2: String? = nil, negativePrompt2: String? = nil, steps: Int = 50,
                guidanceScale: Float = 7.5, width: Int? = nil, height: Int? = nil, seed: UInt64 = 0, strength: Double? = nil) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.prompt2 = prompt2
        self.negativePrompt2 = negativePrompt2
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.width = width
        self.height = height
        self.seed = seed
        self.strength = strength
    }
}
