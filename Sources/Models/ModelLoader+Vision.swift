import Foundation

extension ModelLoader {
    /// Architectures `loadVisionLanguageModel` accepts.
    public static let visionLanguageArchitectures: Set<String> = [Llava.architecture, Qwen2VL.architecture]
    /// Architectures `loadVisionTower` accepts.
    public static let visionTowerArchitectures: Set<String> = ["CLIPVisionModel", "SiglipVisionModel"]

    /// `architectures[0]` of the folder's config.json (e.g. to choose between the loaders).
    public static func architecture(directory: URL) throws -> String {
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
        let reader = try ConfigReader.load(directory.appendingPathComponent("config.json"))
        let name = reader.architecture ?? ""
        guard visionLanguageArchitectures.contains(name) else { throw ModelLoadingError.unsupportedArchitecture(name: name, path: reader.path) }
        let weights = try WeightStore(directory: directory)
        return name == Llava.architecture ? try Llava.load(reader, weights: weights, directory: directory) : try Qwen2VL.load(reader, weights: weights)
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

extension WeightStore {
    /// The first of `candidates` under which `tensor` exists: checkpoints name the parts of a
    /// vision-language model differently (transformers 4 and 5 layouts, with or without "vision_model.").
    func prefix(of tensor: String, among candidates: [String]) -> String? {
        candidates.first { contains($0 + tensor) }
    }
}
