import Tensor

/// How rotary position frequencies are scaled (transformers' `rope_type`).
public enum RopeScaling: Sendable, Equatable {
    case none
    /// Positions divided by `factor`.
    case linear(factor: Double)
    /// Llama 3.1 frequency-dependent scaling.
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositionEmbeddings: Int)
    /// Dynamic NTK: the base grows once a forward pass reaches beyond `maxPositionEmbeddings`.
    case dynamic(factor: Double)
    /// Each frequency divided by its own factor (a GGUF file's `rope_freqs` tensor, e.g. Llama 3.1 scaling).
    case frequencyFactors([Float])
}

/// Whose float32 operation order the RoPE tables and attention follow, so each model rounds as the
/// implementation it is compared with does (quantized models' near-tied greedy tokens move with the
/// last bits): transformers' for Hugging Face folders (`inv_freq` one power per frequency, softmax
/// over all scores), llama.cpp's for GGUF files (ggml's rope cache multiplying θ up by
/// `base^(-2/d)` one frequency at a time, and its flash attention's online softmax).
public enum OperationOrder: Sendable, Equatable {
    case transformers
    case llamaCpp
}

/// The MLP activation applied to the gate projection.
public enum HiddenActivation: String, Sendable {
    case silu
    case geluErf = "gelu"
    case geluTanh = "gelu_pytorch_tanh"
}

/// Hyper-parameters of a decoder-only language model, read from a Hugging Face `config.json`.
///
/// ```swift
/// let config = try LanguageModelConfig(contentsOf: directory.appendingPathComponent("config.json"))
/// print(config.architecture, config.numLayers, config.headDim)
/// ```
public struct LanguageModelConfig: Sendable, Equatable {
    /// First entry of `architectures`, e.g. "LlamaForCausalLM".
    public var architecture: String
    public var modelType: String?
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    /// Per-head width; `head_dim` when given, else hiddenSize / numHeads.
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    /// Llama's `attention_bias` (bias on q, k, v and o projections).
    public var attentionBias: Bool
    /// Llama's `mlp_bias` (bias on gate, up and down projections).
    public var mlpBias: Bool
    public var hiddenActivation: HiddenActivation
    /// Qwen2's `use_sliding_window`.
    public var useSlidingWindow: Bool
    /// `dtype` (transformers 5) or `torch_dtype`, e.g. "bfloat16".
    public var dtype: String?
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var operationOrder: OperationOrder = .transformers
    /// How q/k rows pair their rotary elements: halves for Hugging Face folders, interleaved for
    /// `llama` GGUF files (whose q/k rows stay as llama.cpp's converter permuted them).
    public var rotaryPairs: RotaryPairs = .halves
    /// Attention in float16, as llama.cpp's flash attention runs it: for quantized GGUF files, whose
    /// outputs are compared with llama.cpp's. Float GGUF files attend in float32, so that their
    /// logits equal the safetensors model's.
    public var float16Attention = false
}
