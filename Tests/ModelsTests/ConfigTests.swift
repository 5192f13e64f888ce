import Foundation
import Testing
@testable import Models

struct ConfigTests {
    let base = #""architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2"#

    func parse(_ extra: String) throws -> LanguageModelConfig {
        try LanguageModelConfig(json: Data("{\(base)\(extra.isEmpty ? "" : ", " + extra)}".utf8))
    }

    @Test func defaults() throws {
        let config = try parse("")
        #expect(config.headDim == 4 && config.numKVHeads == 2 && config.ropeTheta == 10000 && config.ropeScaling == .none)
        #expect(!config.tieWordEmbeddings && config.eosTokenIds.isEmpty && config.bosTokenId == nil && config.hiddenActivation == .silu)
    }

    @Test func ropeFormats() throws {
        let modern = try parse(#""rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32}"#)
        #expect(modern.ropeTheta == 500000)
        #expect(modern.ropeScaling == .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32))
        let legacy = try parse(#""rope_theta": 1000.0, "rope_scaling": {"type": "linear", "factor": 2}"#)
        #expect(legacy.ropeTheta == 1000 && legacy.ropeScaling == .linear(factor: 2))
        let dynamic = try parse(#""rope_scaling": {"rope_type": "dynamic", "factor": 3}"#)
        #expect(dynamic.ropeScaling == .dynamic(factor: 3))
        #expect(throws: ModelLoadingError.self) { try parse(#""rope_scaling": {"type": "yarn", "factor": 2}"#) }
        #expect(throws: ModelLoadingError.self) { try parse(#""rope_scaling": {"type": "linear"}"#) }
    }

    @Test func explicitFields() throws {
        let config = try parse(#""head_dim": 6, "num_key_value_heads": 1, "eos_token_id": [3, 4], "bos_token_id": 1, "tie_word_embeddings": true, "torch_dtype": "bfloat16""#)
        #expect(config.headDim == 6 && config.numKVHeads == 1 && config.eosTokenIds == [3, 4] && config.bosTokenId == 1)
        #expect(config.tieWordEmbeddings && config.dtype == "bfloat16")
        #expect(try parse(#""eos_token_id": 7"#).eosTokenIds == [7])
    }

    @Test func invalidValues() {
        #expect(throws: ModelLoadingError.self) { try parse(#""num_key_value_heads": 3"#) }
        #expect(throws: ModelLoadingError.self) { try parse(#""head_dim": 5"#) }
        #expect(throws: ModelLoadingError.self) { try parse(#""hidden_act": "relu""#) }
        #expect(throws: ModelLoadingError.self) { try LanguageModelConfig(json: Data("[]".utf8)) }
        #expect(throws: ModelLoadingError.self) { try LanguageModelConfig(json: Data(#"{"vocab_size": 3}"#.utf8)) }
    }

    /// transformers' float32 inv_freq for llama3 scaling (rope_theta 500000, head_dim 32, factor 8,
    /// low 1, high 4, original 32) at the three regimes: kept, smoothed, divided.
    @Test func llama3FrequenciesFollowTheirRegimes() {
        let frequencies = RotaryEmbedding.frequencies(headDim: 32, theta: 500000, scaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32),
                                                      sequenceLength: nil, maxPositionEmbeddings: 256)
        let plain = RotaryEmbedding.frequencies(headDim: 32, theta: 500000, scaling: .none, sequenceLength: nil, maxPositionEmbeddings: 256)
        #expect(frequencies[0] == plain[0])
        #expect(frequencies[15] == plain[15] / 8)
        #expect(frequencies.count == 16)
        let linear = RotaryEmbedding.frequencies(headDim: 32, theta: 500000, scaling: .linear(factor: 2), sequenceLength: nil, maxPositionEmbeddings: 256)
        #expect(zip(linear, plain).allSatisfy { $0 == $1 / 2 })
    }
}
