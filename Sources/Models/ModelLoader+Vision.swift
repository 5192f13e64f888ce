import Foundation

extension ModelLoader {
    /// Architectures `loadVisionLanguageModel` accepts.
    public static let visionLanguageArchitectures: Set<String> = [Llava.architecture, Qwen2VL.architecture]
    /// Architectures `loadVisionTower` accepts.
    public static let visionTowerArchitectures: Set<String> = ["CLIPVisionModel", "SiglipVisionModel"]

    /// `architectures[0]` of the folder's config.json (e.g. to choose between the loaders).
    public static func architecture(directory: URL) throws -> String {
        if GGUFModel.isGGUF(directory) { return try GGUFModel(path: directory.path).config().architecture }
        let reader = try ConfigReader.load(directory.appendingPathComponent("config.json"))
        guard let name = reader.architecture else { throw ModelLoadingError.malformedConfig(path: reader.path, detail: "no 'architectures' entry") }
        return name
    }

    /// Loads a LLaVA or Qwen2-VL folder. Throws `ModelLoadingError.unsupportedArchitecture` for
    /// anything else, and the usual loading errors for missing or misshapen weights.
    ///
    /// ```swift
    /// let vlm = try ModelLoader.loadVisionLanguageModel(directory: URL(fileURLWithPath: "llava-1.5-7b-hf"))
    /// ```
    public static func loadVisionLanguageModel(directory: URL) throws -> VisionLanguageModel {
        let parts = try visionLanguageParts(directory)
        let weights = try WeightStore(directory: directory)
        return VisionLanguageModel(languageModel: try parts.decoder(weights),
                                   vision: VisionLanguageEncoder(format: parts.format, encoder: try parts.encoder(weights)))
    }

    /// Loads only the vision tower and projector (LLaVA) or vision transformer and merger
    /// (Qwen2-VL) of a vision-language folder: no language-model tensor is read, and shards that
    /// hold only language-model tensors are not opened (they may be absent).
    ///
    /// ```swift
    /// let encoder = try ModelLoader.loadVisionLanguageEncoder(directory: URL(fileURLWithPath: "llava-1.5-7b-hf"))
    /// ```
    public static func loadVisionLanguageEncoder(directory: URL) throws -> VisionLanguageEncoder {
        try loadVisionLanguageEncoder(directory: directory, weights: WeightStore(directory: directory))
    }

    static func loadVisionLanguageEncoder(directory: URL, weights: WeightStore) throws -> VisionLanguageEncoder {
        let parts = try visionLanguageParts(directory)
        return VisionLanguageEncoder(format: parts.format, encoder: try parts.encoder(weights))
    }

    /// Loads only the language model of a vision-language folder (no vision tensor is read); its
    /// image placeholders come from `loadImagePromptFormat`.
    public static func loadVisionLanguageDecoder(directory: URL) throws -> DecoderLanguageModel {
        try loadVisionLanguageDecoder(directory: directory, weights: WeightStore(directory: directory))
    }

    static func loadVisionLanguageDecoder(directory: URL, weights: WeightStore) throws -> DecoderLanguageModel {
        try visionLanguageParts(directory).decoder(weights)
    }

    /// How a vision-language folder's prompts take images, from its config.json alone.
    public static func loadImagePromptFormat(directory: URL) throws -> ImagePromptFormat {
        try visionLanguageParts(directory).format
    }

    /// The decoder's hyper-parameters of any folder the loaders accept (a vision-language model's
    /// `text_config`), from config.json alone.
    public static func languageModelConfig(directory: URL) throws -> LanguageModelConfig {
        if GGUFModel.isGGUF(directory) { return try GGUFModel(path: directory.path).config() }
        let url = directory.appendingPathComponent("config.json")
        guard visionLanguageArchitectures.contains(try architecture(directory: directory)) else { return try LanguageModelConfig(contentsOf: url) }
        return try visionLanguageParts(directory).text
    }

    private static func visionLanguageParts(_ directory: URL) throws(ModelLoadingError) -> VisionLanguageParts {
        let reader = try ConfigReader.load(directory.appendingPathComponent("config.json"))
        let name = reader.architecture ?? ""
        switch name {
        case Llava.architecture: return try Llava.parts(reader, directory: directory)
        case Qwen2VL.architecture: return try Qwen2VL.parts(reader)
        default: throw .unsupportedArchitecture(name: name, path: reader.path)
        }
    }

    /// Loads a standalone `CLIPVisionModel` or `SiglipVisionModel` folder.
    public static func loadVisionTower(directory: URL) throws -> VisionTransformer {
        let reader = try ConfigReader.load(directory.appendingPathComponent("config.json"))
        let name = reader.architecture ?? ""
        guard visionTowerArchitectures.contains(name) else { throw ModelLoadingError.unsupportedArchitecture(name: name, path: reader.path) }
        let weights = try WeightStore(directory: directory)
        let config = try VisionTowerConfig(kind: name == "CLIPVisionModel" ? .clip : .siglip, reader: reader)
        // Hub checkpoints keep the tower under "vision_model."; transformers 5 saves it unprefixed.
        let prefix = weights.prefix(of: "embeddings.patch_embedding.weight", among: ["vision_model.", ""]) ?? ""
        return try VisionTransformer(config: config, weights: weights, prefix: prefix)
    }
}

/// A vision-language folder read as its parts: what config.json alone says (how prompts take
/// images, the decoder's hyper-parameters), and loaders for the decoder and the image encoder, so
/// each can be loaded without the other's tensors.
struct VisionLanguageParts {
    let format: ImagePromptFormat
    let text: LanguageModelConfig
    let decoder: (WeightStore) throws(ModelLoadingError) -> DecoderLanguageModel
    let encoder: (WeightStore) throws(ModelLoadingError) -> any ImageEncoder
}

extension WeightStore {
    /// The first of `candidates` under which `tensor` exists: checkpoints name the parts of a
    /// vision-language model differently (transformers 4 and 5 layouts, with or without "vision_model.").
    func prefix(of tensor: String, among candidates: [String]) -> String? {
        candidates.first { contains($0 + tensor) }
    }
}
