/// Llama (`LlamaForCausalLM`): RMSNorm, RoPE, grouped-query attention and a SwiGLU MLP.
/// `attention_bias` adds biases to q, k, v and o; `mlp_bias` to the MLP projections.
enum Llama {
    static let architectures: Set<String> = ["LlamaForCausalLM"]

    static func load(config: LanguageModelConfig, weights: WeightStore) throws(ModelLoadingError) -> DecoderLanguageModel {
        try DecoderLanguageModel(config: config, weights: weights,
                                 biases: ProjectionBiases(qkv: config.attentionBias, output: config.attentionBias, mlp: config.mlpBias))
    }
}
