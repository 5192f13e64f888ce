import Foundation
import Imaging
import Tensor

/// Qwen2-VL (`Qwen2VLForConditionalGeneration`): the Qwen2-VL vision transformer and merger, and a
/// Qwen2 decoder whose rotary frequencies follow temporal, height and width positions (M-RoPE,
/// split by `mrope_section`). Each `<|image_pad|>` expands to t·h·w / merge² tokens.
enum Qwen2VL {
    static let architecture = "Qwen2VLForConditionalGeneration"

    struct Encoder: ImageEncoder {
        let vision: Qwen2VLVisionTransformer

        func encode(_ image: PreprocessedImage) throws(MultimodalError) -> Matrix { try vision.features(image) }
    }

    /// The folder's parts: the prompt format and decoder config from config.json, and the decoder
    /// and encoder each loaded from the weights only when asked for.
    static func parts(_ r: ConfigReader) throws(ModelLoadingError) -> VisionLanguageParts {
        // transformers 5 nests the decoder in text_config; older configs keep it at the top level.
        var text = (r.json["text_config"] as? [String: Any]) ?? r.json.filter { $0.key != "vision_config" }
        text["architectures"] = ["Qwen2ForCausalLM"]
        if text["tie_word_embeddings"] == nil, let tied = r.json["tie_word_embeddings"] { text["tie_word_embeddings"] = tied }
        let ropeKey = text["rope_parameters"] != nil ? "rope_parameters" : "rope_scaling"
        var rope = (text[ropeKey] as? [String: Any]) ?? [:]
        guard let section = (rope["mrope_section"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }), section.count == 3 else {
            throw .malformedConfig(path: r.path, detail: "missing mrope_section (three integers) in the rotary parameters")
        }
        // "mrope" is the default rotary embedding with 3-D positions.
        for key in ["rope_type", "type"] where rope[key] as? String == "mrope" { rope[key] = "default" }
        text[ropeKey] = rope
        let config = try LanguageModelConfig(dictionary: text, path: r.path)
        guard section.reduce(0, +) == config.headDim / 2, section.allSatisfy({ $0 >= 0 }) else {
            throw .malformedConfig(path: r.path, detail: "mrope_section \(section) must add up to head_dim / 2 = \(config.headDim / 2)")
        }
        guard !config.useSlidingWindow else {
            throw .unsupportedConfiguration(path: r.path, detail: "use_sliding_window is true; only full attention is supported")
        }
        let visionReader = try r.object("vision_config") ?? ConfigReader(json: [:], path: r.path)
        let vision = try Qwen2VLVisionConfig(reader: visionReader)
        guard vision.outputSize == config.hiddenSize else {
            throw .malformedConfig(path: r.path, detail: "vision hidden_size \(vision.outputSize) differs from the text hidden_size \(config.hiddenSize)")
        }
        let imageToken = try r.optionalInt("image_token_id") ?? 151655
        guard (0 ..< config.vocabSize).contains(imageToken) else {
            throw .malformedConfig(path: r.path, detail: "image_token_id \(imageToken) is outside the vocabulary of \(config.vocabSize)")
        }
        let format = ImagePromptFormat(architecture: architecture, imageTokenId: imageToken,
                                       imagePlaceholder: "<|vision_start|><|image_pad|><|vision_end|>", rows: .mergedGrid(vision))
        // The Hub layout (model., visual.), which transformers 5 still writes, or its in-memory one. The index alone tells.
        let nested = { (weights: WeightStore) in
            weights.contains("model.language_model.embed_tokens.weight") || weights.contains("model.visual.patch_embed.proj.weight")
        }
        return VisionLanguageParts(format: format, text: config, decoder: { weights throws(ModelLoadingError) in
            try DecoderLanguageModel(config: config, weights: weights, biases: ProjectionBiases(qkv: true, output: false, mlp: false),
                                     prefix: nested(weights) ? "model.language_model." : "model.", mropeSection: section)
        }, encoder: { weights throws(ModelLoadingError) in
            Encoder(vision: try Qwen2VLVisionTransformer(config: vision, weights: weights, prefix: nested(weights) ? "model.visual." : "visual."))
        })
    }
}
