import Foundation

/// Loads a Hugging Face model directory (config.json + safetensors weights, memory-mapped).
///
/// ```swift
/// let model = try ModelLoader.load(directory: URL(fileURLWithPath: "models/llama"))
/// ```
public enum ModelLoader {
    /// Throws `ModelLoadingError` for a missing/malformed config, an unknown architecture, or
    /// missing, misshapen or unreadable weights.
    public static func load(directory: URL) throws -> any CausalLanguageModel {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try LanguageModelConfig(contentsOf: configURL)
        // Check the architecture before touching weights, so the error names the real problem.
        let isLlama = Llama.architectures.contains(config.architecture)
        let isQwen2 = Qwen2.architectures.contains(config.architecture)
        guard isLlama || isQwen2 else { throw ModelLoadingError.unsupportedArchitecture(name: config.architecture, path: configURL.path) }
        let weights = try WeightStore(directory: directory)
        return isLlama ? try Llama.load(config: config, weights: weights)
            : try Qwen2.load(config: config, weights: weights, configPath: configURL.path)
    }
}
