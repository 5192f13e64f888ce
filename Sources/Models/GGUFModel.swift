import Foundation
import Tensor
import Tokenizers

/// A GGUF model file read as the Llama-family decoder Tessera runs: hyper-parameters from the
/// `{arch}.*` metadata, tensors under their Hugging Face names, and the tokenizer and chat template
/// from `tokenizer.*`. Supports llama.cpp's `llama` and `qwen2` architectures; the q/k rows that
/// llama.cpp's converter permutes for `llama` stay permuted and rotate as interleaved pairs
/// (`RotaryPairs.interleaved`), so q·k sums run over the elements in ggml's order.
///
/// ```swift
/// let model = try ModelLoader.load(directory: URL(fileURLWithPath: "SmolLM2-135M-Instruct.Q4_1.gguf"))
/// let tokenizer = try ModelLoader.loadTokenizer(at: URL(fileURLWithPath: "SmolLM2-135M-Instruct.Q4_1.gguf"))
/// ```
struct GGUFModel {
    /// llama.cpp architecture name → transformers architecture.
    static let architectures = ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"]

    let file: GGUFFile
    let architecture: String

    init(path: String) throws(ModelLoadingError) {
        do { file = try GGUFFile(path: path) } catch { throw .invalidGGUF(error) }
        guard let name = file.metadata["general.architecture"]?.string else {
            throw .malformedConfig(path: path, detail: "no general.architecture in the GGUF metadata")
        }
        guard Self.architectures[name] != nil else {
            throw .unsupportedArchitecture(name: name, path: path)
        }
        architecture = name
    }

    /// Whether `url` names a GGUF file rather than a model folder.
    static func isGGUF(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return url.pathExtension.lowercased() == "gguf"
            || (FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue)
    }

    private func value(_ key: String) -> GGUFValue? { file.metadata["\(architecture).\(key)"] }

    private func int(_ key: String, default fallback: Int? = nil) throws(ModelLoadingError) -> Int {
        if let v = value(key) {
            guard let i = v.int, i > 0 else { throw .malformedConfig(path: file.path, detail: "\(architecture).\(key) is not a positive integer") }
            return i
        }
        guard let fallback else { throw .malformedConfig(path: file.path, detail: "missing \(architecture).\(key)") }
        return fallback
    }

    /// The hyper-parameters, as transformers would read them from the original config.json.
    func config() throws(ModelLoadingError) -> LanguageModelConfig {
        guard let embedding = file.tensors["token_embd.weight"], embedding.shape.count == 2 else {
            throw .missingTensor(name: "token_embd.weight", path: file.path)
        }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let kvHeads = try int("attention.head_count_kv", default: heads)
        guard heads % kvHeads == 0 else { throw .malformedConfig(path: file.path, detail: "head_count \(heads) is not a multiple of head_count_kv \(kvHeads)") }
        let headDim = try int("attention.key_length", default: hidden / heads)
        guard headDim % 2 == 0 else { throw .malformedConfig(path: file.path, detail: "key_length \(headDim) must be even for rotary embeddings") }
        var scaling = RopeScaling.none
        switch value("rope.scaling.type")?.string ?? "none" {
        case "none": break
        case "linear":
            guard let factor = value("rope.scaling.factor")?.double, factor > 0 else {
                throw .malformedConfig(path: file.path, detail: "linear rope scaling without a positive rope.scaling.factor")
            }
            scaling = .linear(factor: factor)
        case let other:
            throw .unsupportedConfiguration(path: file.path, detail: "rope scaling '\(other)' is not supported (none, linear, or rope_freqs factors)")
        }
        if let factors = file.tensors["rope_freqs.weight"] {
            guard factors.shape == [headDim / 2], let matrix = file.matrix("rope_freqs.weight") else {
                throw .shapeMismatch(tensor: "rope_freqs.weight", path: file.path, expected: [headDim / 2], actual: factors.shape)
            }
            scaling = .frequencyFactors(matrix.toFloatArray())
        }
        let tokens = file.metadata["tokenizer.ggml.tokens"]?.array?.count
        var eos: [Int] = []
        for key in ["eos_token_id", "eot_token_id", "eom_token_id"] {
            if let id = file.metadata["tokenizer.ggml.\(key)"]?.int, !eos.contains(id) { eos.append(id) }
        }
        var config = LanguageModelConfig(
            architecture: Self.architectures[architecture]!, modelType: architecture,
            vocabSize: embedding.shape[0] > 0 ? embedding.shape[0] : (tokens ?? 0),
            hiddenSize: hidden, intermediateSize: try int("feed_forward_length"), numLayers: try int("block_count"),
            numHeads: heads, numKVHeads: kvHeads, headDim: headDim,
            rmsNormEps: Float(value("attention.layer_norm_rms_epsilon")?.double ?? 1e-5),
            ropeTheta: value("rope.freq_base")?.double ?? 10000, ropeScaling: scaling,
            maxPositionEmbeddings: try int("context_length", default: 2048),
            tieWordEmbeddings: file.tensors["output.weight"] == nil,
            attentionBias: architecture == "llama" && file.tensors["blk.0.attn_q.bias"] != nil, mlpBias: false,
            hiddenActivation: .silu, useSlidingWindow: false, dtype: nil,
            bosTokenId: file.metadata["tokenizer.ggml.bos_token_id"]?.int, eosTokenIds: eos, operationOrder: .llamaCpp,
            rotaryPairs: architecture == "llama" ? .interleaved : .halves)
        config.float16Attention = file.tensors.values.contains { $0.dtype?.isQuantized ?? false }
        return config
    }

    /// The GGUF name of a transformers tensor name ("model.layers.3.self_attn.q_proj.weight" → "blk.3.attn_q.weight").
    static func ggufName(_ name: String) -> String? {
        let fixed = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"]
        if let n = fixed[name] { return n }
        let parts = name.split(separator: ".")
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let leaf = parts[3...].dropLast().joined(separator: ".")
        let suffix = parts.last!
        let map = [
            "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
            "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
            "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
        ]
        guard let g = map[leaf] else { return nil }
        return "blk.\(layer).\(g).\(suffix)"
    }

    /// The tensor behind a transformers name (llama's q/k rows as the converter permuted them).
    func tensor(_ name: String) throws(ModelLoadingError) -> WeightMatrix {
        guard let gguf = Self.ggufName(name), let info = file.tensors[gguf] else { throw .missingTensor(name: name, path: file.path) }
        guard info.dtype != nil, let matrix = file.matrix(gguf) else {
            throw .unsupportedDType(tensor: gguf, path: file.path, dtype: info.typeName)
        }
        return matrix
    }

    /// The tokenizer and chat template of the metadata.
    func vocabulary() throws(ModelLoadingError) -> GGUFVocabulary {
        let meta = file.metadata
        guard let model = meta["tokenizer.ggml.model"]?.string else {
            throw .malformedConfig(path: file.path, detail: "no tokenizer.ggml.model in the GGUF metadata")
        }
        guard let tokens = meta["tokenizer.ggml.tokens"]?.array?.compactMap(\.string) else {
            throw .malformedConfig(path: file.path, detail: "no tokenizer.ggml.tokens in the GGUF metadata")
        }
        var v = GGUFVocabulary(model: model, tokens: tokens)
        v.pre = meta["tokenizer.ggml.pre"]?.string
        v.scores = meta["tokenizer.ggml.scores"]?.array?.compactMap { $0.double.map(Float.init) }
        v.tokenTypes = meta["tokenizer.ggml.token_type"]?.array?.compactMap(\.int)
        v.merges = meta["tokenizer.ggml.merges"]?.array?.compactMap(\.string)
        v.bosTokenId = meta["tokenizer.ggml.bos_token_id"]?.int
        v.eosTokenId = meta["tokenizer.ggml.eos_token_id"]?.int
        v.unknownTokenId = meta["tokenizer.ggml.unknown_token_id"]?.int
        v.addBosToken = meta["tokenizer.ggml.add_bos_token"]?.bool
        v.addEosToken = meta["tokenizer.ggml.add_eos_token"]?.bool
        v.addSpacePrefix = meta["tokenizer.ggml.add_space_prefix"]?.bool
        v.chatTemplate = meta["tokenizer.chat_template"]?.string
        return v
    }
}
