import Foundation

import Tensor
import Tokenizers

/// Loads a Hugging Face model directory (config.json + safetensors weights, memory-mapped) or a
/// GGUF file (llama.cpp's format: weights, hyper-parameters and tokenizer in one file).
///
/// ```swift
/// let model = try ModelLoader.load(directory: URL(fileURLWithPath: "models/llama"))
/// let small = try ModelLoader.load(directory: URL(fileURLWithPath: "SmolLM2-135M-Instruct.Q4_1.gguf"))
/// let q8 = try ModelLoader.load(directory: URL(fileURLWithPath: "models/llama"), quantization: .q8_0)
/// ```
public enum ModelLoader {
    /// Throws `ModelLoadingError` for a missing/malformed config, an unknown architecture, or
    /// missing, misshapen or unreadable weights. `quantization` (Q8_0 or Q4_0) quantizes a
    /// folder's float weight matrices at load time; GGUF files keep their stored types.
    public static func load(directory: URL, quantization: DType? = nil) throws -> any CausalLanguageModel {
        if let quantization, quantization != .q8_0, quantization != .q4_0 {
            throw ModelLoadingError.unsupportedConfiguration(path: directory.path, detail: "--quantize supports q8_0 and q4_0, not \(quantization.rawValue.lowercased())")
        }
        if GGUFModel.isGGUF(directory) {
            let gguf = try GGUFModel(path: directory.path)
            let config = try gguf.config()
            let weights = WeightStore(gguf: gguf)
            return config.architecture == "LlamaForCausalLM" ? try Llama.load(config: config, weights: weights)
                : try Qwen2.load(config: config, weights: weights, configPath: directory.path)
        }
        let configURL = directory.appendingPathComponent("config.json")
        let config = try LanguageModelConfig(contentsOf: configURL)
        // Check the architecture before touching weights, so the error names the real problem.
        let isLlama = Llama.architectures.contains(config.architecture)
        let isQwen2 = Qwen2.architectures.contains(config.architecture)
        guard isLlama || isQwen2 else { throw ModelLoadingError.unsupportedArchitecture(name: config.architecture, path: configURL.path) }
        let weights = try WeightStore(directory: directory, quantization: quantization)
        return isLlama ? try Llama.load(config: config, weights: weights)
            : try Qwen2.load(config: config, weights: weights, configPath: configURL.path)
    }

    /// The tokenizer of a model folder (tokenizer.json, tokenizer_config.json, chat template) or of a GGUF file's metadata.
    public static func loadTokenizer(at url: URL) throws -> Tokenizer {
        guard GGUFModel.isGGUF(url) else { return try Tokenizer.load(directory: url) }
        return try Tokenizer(gguf: try GGUFModel(path: url.path).vocabulary())
    }
}
