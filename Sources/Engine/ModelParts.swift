/// Which parts of a model folder an `LLMEngine` loads. Disaggregated stages need different parts
/// (EPD, arXiv 2501.05460 §3: encode instances hold only the vision encoder, prefill and decode
/// instances the language model).
public struct ModelParts: OptionSet, Sendable, Hashable {
    public let rawValue: Int

    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The decoder with its KV cache and step loop: generation, prefill and decode. A text model is
    /// only this, and always loads it.
    public static let languageModel = ModelParts(rawValue: 1)
    /// A vision-language model's vision tower and projector (or merger), loaded at start. An engine
    /// without it still takes images: it loads them the first time an image needs encoding there
    /// rather than arriving encoded (`provideEncoded`).
    public static let visionEncoder = ModelParts(rawValue: 2)
    public static let all: ModelParts = [.languageModel, .visionEncoder]
}
