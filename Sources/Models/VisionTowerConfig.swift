import Foundation
import Imaging

/// The MLP activation of a vision tower (`hidden_act`).
public enum VisionActivation: String, Sendable {
    /// x · sigmoid(1.702 x), CLIP's default.
    case quickGelu = "quick_gelu"
    case gelu
    case geluTanh = "gelu_pytorch_tanh"

    init(name: String, path: String) throws(ModelLoadingError) {
        switch name {
        case "quick_gelu": self = .quickGelu
        case "gelu": self = .gelu
        case "gelu_pytorch_tanh", "gelu_new": self = .geluTanh
        default: throw .unsupportedConfiguration(path: path, detail: "vision hidden_act '\(name)' is not supported")
        }
    }
}

/// Hyper-parameters of a CLIP or SigLIP vision transformer (`CLIPVisionConfig` / `SiglipVisionConfig`),
/// with transformers' defaults for absent keys (Hub LLaVA configs list only the non-default ones).
public struct VisionTowerConfig: Sendable, Equatable {
    public enum Kind: Sendable { case clip, siglip }

    public var kind: Kind
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var layerNormEps: Float
    public var activation: VisionActivation
    /// SigLIP's attention-pooling head (`vision_use_head`); CLIP pools the class token instead.
    public var usesHead: Bool

    /// Patches per image side.
    public var gridSize: Int { imageSize / patchSize }
    /// Rows of the tower's hidden states: the patches, plus CLIP's class token.
    public var sequenceLength: Int { gridSize * gridSize + (kind == .clip ? 1 : 0) }

    init(kind: Kind, reader r: ConfigReader) throws(ModelLoadingError) {
        let clip = kind == .clip
        self.kind = kind
        hiddenSize = try r.positiveInt("hidden_size", default: 768)
        intermediateSize = try r.positiveInt("intermediate_size", default: 3072)
        numLayers = try r.positiveInt("num_hidden_layers", default: 12)
        numHeads = try r.positiveInt("num_attention_heads", default: 12)
        numChannels = try r.positiveInt("num_channels", default: 3)
        imageSize = try r.positiveInt("image_size", default: 224)
        patchSize = try r.positiveInt("patch_size", default: clip ? 32 : 16)
        layerNormEps = Float(try r.double("layer_norm_eps", default: clip ? 1e-5 : 1e-6))
        activation = try VisionActivation(name: try r.string("hidden_act") ?? (clip ? "quick_gelu" : "gelu_pytorch_tanh"), path: r.path)
        let head = try r.bool("vision_use_head", default: true)
        usesHead = !clip && head
        guard hiddenSize % numHeads == 0 else {
            throw .malformedConfig(path: r.path, detail: "vision hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numHeads)")
        }
        guard imageSize % patchSize == 0 else {
            throw .malformedConfig(path: r.path, detail: "vision image_size \(imageSize) is not a multiple of patch_size \(patchSize)")
        }
    }

    /// `sequenceLength`, once `image` is checked to have the `[channels, size, size]` pixels this tower takes.
    func rows(for image: PreprocessedImage) throws(MultimodalError) -> Int {
        let expected = [numChannels, imageSize, imageSize]
        guard image.shape == expected, image.pixelValues.count == expected.reduce(1, *) else {
            throw .invalidPixelValues(expected: "\(expected)", shape: image.shape)
        }
        return sequenceLength
    }
}

/// Hyper-parameters of the Qwen2-VL vision transformer (`Qwen2VLVisionConfig`).
public struct Qwen2VLVisionConfig: Sendable, Equatable {
    public var depth: Int
    public var embedDim: Int
    public var numHeads: Int
    /// Width of the merger's output: the language model's hidden size.
    public var outputSize: Int
    public var mlpRatio: Double
    public var inChannels: Int
    public var patchSize: Int
    public var temporalPatchSize: Int
    public var spatialMergeSize: Int
    public var activation: VisionActivation
    public var ropeTheta: Double

    public var headDim: Int { embedDim / numHeads }
    public var intermediateSize: Int { Int(Double(embedDim) * mlpRatio) }
    /// Floats per patch row of the pixel values: channels × temporal × patch × patch.
    public var patchWidth: Int { inChannels * temporalPatchSize * patchSize * patchSize }

    init(reader r: ConfigReader) throws(ModelLoadingError) {
        depth = try r.positiveInt("depth", default: 32)
        embedDim = try r.positiveInt("embed_dim", default: 1280)
        numHeads = try r.positiveInt("num_heads", default: 16)
        outputSize = try r.positiveInt("hidden_size", default: 3584)
        mlpRatio = try r.double("mlp_ratio", default: 4)
        inChannels = try r.positiveInt("in_channels", default: 3)
        patchSize = try r.positiveInt("patch_size", default: 14)
        temporalPatchSize = try r.positiveInt("temporal_patch_size", default: 2)
        spatialMergeSize = try r.positiveInt("spatial_merge_size", default: 2)
        activation = try VisionActivation(name: try r.string("hidden_act") ?? "quick_gelu", path: r.path)
        ropeTheta = try r.object("rope_parameters")?.double("rope_theta", default: 10000) ?? 10000
        guard embedDim % numHeads == 0, (embedDim / numHeads) % 4 == 0 else {
            throw .malformedConfig(path: r.path, detail: "vision embed_dim / num_heads must be a multiple of 4 for 2-D rotary embeddings")
        }
        guard mlpRatio > 0 else { throw .malformedConfig(path: r.path, detail: "vision mlp_ratio must be positive") }
    }

    /// The image's `[t, h, w]` patch grid, checked against its pixel values.
    func grid(of image: PreprocessedImage) throws(MultimodalError) -> (t: Int, h: Int, w: Int) {
        let expected = "[t·h·w, \(patchWidth)] with image_grid_thw [t, h, w], h and w multiples of \(spatialMergeSize)"
        guard let g = image.gridTHW, g.count == 3, g.allSatisfy({ $0 > 0 }), g[1] % spatialMergeSize == 0, g[2] % spatialMergeSize == 0,
              image.shape == [g[0] * g[1] * g[2], patchWidth], image.pixelValues.count == g[0] * g[1] * g[2] * patchWidth else {
            throw .invalidPixelValues(expected: expected, shape: image.shape)
        }
        return (g[0], g[1], g[2])
    }

    /// Image tokens the merger makes of `image`: its patches, merged `spatialMergeSize²` to one.
    func tokenCount(for image: PreprocessedImage) throws(MultimodalError) -> Int {
        let g = try grid(of: image)
        return g.t * g.h * g.w / (spatialMergeSize * spatialMergeSize)
    }
}

extension ConfigReader {
    /// Reads a JSON file into a reader, with the same errors as `LanguageModelConfig`.
    static func load(_ url: URL) throws(ModelLoadingError) -> ConfigReader {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .missingConfig(path: url.path) }
        guard let data = try? Data(contentsOf: url) else { throw .malformedConfig(path: url.path, detail: "cannot read") }
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw .malformedConfig(path: url.path, detail: "not a JSON object")
        }
        return ConfigReader(json: json, path: url.path)
    }

    /// The first entry of `architectures`, if any.
    var architecture: String? { (json["architectures"] as? [Any])?.first as? String }
}
