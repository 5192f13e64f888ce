/// Qwen2 (`Qwen2ForCausalLM`): Llama with biases on the q, k and v projections (always on).
enum Qwen2 {
    static let architectures: Set<String> = ["Qwen2ForCausalLM"]

    static func load(config: LanguageModelConfig, weights: WeightStore, configPath: String) throws(ModelLoadingError) -> DecoderLanguageModel {
        // Sliding-window layers would need a windowed attention mask, which is not implemented.
        guard !config.useSlidingWindow else {
            throw .unsupportedConfiguration(path: configPath, detail: "use_sliding_window is true; only full attention is supported")
        }
        return try DecoderLanguageModel(config: config, weights: weights, biases: ProjectionBiases(qkv: true, output: false, mlp: false))
    }
}
