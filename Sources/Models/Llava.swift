import Foundation
import Imaging
import Tensor

/// LLaVA (`LlavaForConditionalGeneration`): a CLIP (or SigLIP) tower whose `vision_feature_layer`
/// hidden states (several layers are concatenated) go through a two-layer projector; the
/// "default" `vision_feature_select_strategy` drops the first (class) row, "full" keeps it.
enum Llava {
    static let architecture = "LlavaForConditionalGeneration"

    struct Encoder: ImageEncoder {
        let tower: VisionTransformer
        /// Indices into `hidden_states` (0 = embeddings), in concatenation order.
        let layers: [Int]
        let dropsClassToken: Bool
        let projectorIn: Linear
        let projectorOut: Linear
        let activation: VisionActivation

        func encode(_ image: PreprocessedImage) throws(MultimodalError) -> Matrix {
            let states = try tower.hiddenStates(image, through: layers.max() ?? 0)
            let first = dropsClassToken ? 1 : 0
            let width = tower.config.hiddenSize
            let selected = Matrix(rows: states[0].rows - first, cols: width * layers.count)
            for row in 0 ..< selected.rows {
                for (i, layer) in layers.enumerated() {
                    (selected.row(row) + i * width).update(from: states[layer].row(row + first), count: width)
                }
            }
            let middle = Matrix(rows: selected.rows, cols: projectorIn.weight.rows)
            projectorIn.apply(selected, into: middle)
            activation.apply(middle)
            let features = Matrix(rows: selected.rows, cols: projectorOut.weight.rows)
            projectorOut.apply(middle, into: features)
            return features
        }
    }

    /// The folder's parts: the prompt format and decoder config from config.json, and the decoder
    /// and encoder each loaded from the weights only when asked for.
    static func parts(_ r: ConfigReader, directory: URL) throws(ModelLoadingError) -> VisionLanguageParts {
        let text = try textConfig(r)
        let biases: ProjectionBiases
        switch text.architecture {
        case "LlamaForCausalLM": biases = ProjectionBiases(qkv: text.attentionBias, output: text.attentionBias, mlp: text.mlpBias)
        case "Qwen2ForCausalLM": biases = ProjectionBiases(qkv: true, output: false, mlp: false)
        default: throw .unsupportedConfiguration(path: r.path, detail: "LLaVA text model '\(text.architecture)' is not supported (llama, qwen2)")
        }
        let visionReader = try r.object("vision_config") ?? ConfigReader(json: [:], path: r.path)
        let visionType = try visionReader.string("model_type") ?? "clip_vision_model"
        let kind: VisionTowerConfig.Kind
        switch visionType {
        case "clip_vision_model": kind = .clip
        case "siglip_vision_model": kind = .siglip
        default: throw .unsupportedConfiguration(path: r.path, detail: "LLaVA vision tower '\(visionType)' is not supported (clip_vision_model, siglip_vision_model)")
        }
        let vision = try VisionTowerConfig(kind: kind, reader: visionReader)
        let requested = try featureLayers(r)
        var layers: [Int] = []
        for layer in requested {
            let index = layer < 0 ? vision.numLayers + 1 + layer : layer
            guard (0 ... vision.numLayers).contains(index) else {
                throw .malformedConfig(path: r.path, detail: "vision_feature_layer \(layer) is outside the tower's \(vision.numLayers + 1) hidden states")
            }
            layers.append(index)
        }
        let strategy = try r.string("vision_feature_select_strategy") ?? "default"
        guard strategy == "default" || strategy == "full" else {
            throw .unsupportedConfiguration(path: r.path, detail: "vision_feature_select_strategy '\(strategy)' (expected default or full)")
        }
        let bias = try r.bool("multimodal_projector_bias", default: true)
        let activation = try VisionActivation(name: try r.string("projector_hidden_act") ?? "gelu", path: r.path)
        let modernToken = try r.optionalInt("image_token_id")
        let legacyToken = try r.optionalInt("image_token_index")
        let imageToken = modernToken ?? legacyToken ?? 32000
        guard (0 ..< text.vocabSize).contains(imageToken) else {
            throw .malformedConfig(path: r.path, detail: "image token id \(imageToken) is outside the vocabulary of \(text.vocabSize)")
        }
        let format = ImagePromptFormat(architecture: architecture, imageTokenId: imageToken, imagePlaceholder: processorImageToken(directory) ?? "<image>",
                                       rows: .tower(vision, dropsClassToken: strategy == "default"))

        // The Hub layout (language_model.model., vision_tower.vision_model., multi_modal_projector.), which
        // transformers 5 still writes, or its in-memory layout under "model.". The index alone tells.
        let nested = { (weights: WeightStore) in
            weights.contains("model.language_model.embed_tokens.weight") || weights.contains("model.multi_modal_projector.linear_1.weight")
        }
        return VisionLanguageParts(format: format, text: text, decoder: { weights throws(ModelLoadingError) in
            let nested = nested(weights)
            return try DecoderLanguageModel(config: text, weights: weights, biases: biases,
                                            prefix: nested ? "model.language_model." : "language_model.model.",
                                            lmHead: nested ? "lm_head.weight" : "language_model.lm_head.weight")
        }, encoder: { weights throws(ModelLoadingError) in
            let nested = nested(weights)
            let towerPrefixes = nested ? ["model.vision_tower.vision_model.", "model.vision_tower."] : ["vision_tower.vision_model.", "vision_tower."]
            let tower = try VisionTransformer(config: vision, weights: weights,
                                              prefix: weights.prefix(of: "embeddings.patch_embedding.weight", among: towerPrefixes) ?? towerPrefixes[0])
            let projector = nested ? "model.multi_modal_projector." : "multi_modal_projector."
            return Encoder(
                tower: tower, layers: layers, dropsClassToken: strategy == "default",
                projectorIn: try Linear(weights, projector + "linear_1", out: text.hiddenSize, in: vision.hiddenSize * layers.count, bias: bias),
                projectorOut: try Linear(weights, projector + "linear_2", out: text.hiddenSize, in: text.hiddenSize, bias: bias),
                activation: activation)
        })
    }

    /// `vision_feature_layer`: one index or a list (default -2).
    private static func featureLayers(_ r: ConfigReader) throws(ModelLoadingError) -> [Int] {
        if let list = r.json["vision_feature_layer"] as? [Any] {
            let layers = list.compactMap { ($0 as? NSNumber).flatMap { Int(exactly: $0.doubleValue) } }
            guard layers.count == list.count, !layers.isEmpty else {
                throw .malformedConfig(path: r.path, detail: "vision_feature_layer must be an integer or a non-empty list of integers")
            }
            return layers
        }
        return [try r.optionalInt("vision_feature_layer") ?? -2]
    }

    /// `image_token` of processor_config.json, when the folder has one.
    private static func processorImageToken(_ directory: URL) -> String? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("processor_config.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return json["image_token"] as? String
    }

    /// The nested `text_config`, with transformers' Llama defaults for keys Hub LLaVA configs omit.
    static func textConfig(_ r: ConfigReader) throws(ModelLoadingError) -> LanguageModelConfig {
        var text = (r.json["text_config"] as? [String: Any]) ?? [:]
        let type = text["model_type"] as? String ?? "llama"
        text["model_type"] = type
        if type == "llama" {
            let defaults: [String: Any] = ["vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                                           "num_attention_heads": 32, "rms_norm_eps": 1e-6, "max_position_embeddings": 2048]
            text.merge(defaults) { current, _ in current }
        }
        if text["tie_word_embeddings"] == nil, let tied = r.json["tie_word_embeddings"] { text["tie_word_embeddings"] = tied }
        return try LanguageModelConfig(dictionary: text, path: r.path)
    }
}

extension LanguageModelConfig {
    /// Parses a nested text config (a vision-language model's `text_config`).
    init(dictionary: [String: Any], path: String) throws(ModelLoadingError) {
        guard JSONSerialization.isValidJSONObject(dictionary), let data = try? JSONSerialization.data(withJSONObject: dictionary) else {
            throw .malformedConfig(path: path, detail: "text_config is not a JSON object")
        }
        try self.init(json: data, path: path)
    }
}
