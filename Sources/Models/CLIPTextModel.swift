import Foundation
import Tensor

/// The text encoders of Stable Diffusion: `transformers`' `CLIPTextModel` and
/// `CLIPTextModelWithProjection` (Radford et al., 2021) from a `text_encoder/` folder.
///
/// Token and position embeddings, pre-norm transformer layers with causal self-attention
/// (`quick_gelu` or `gelu`), a final LayerNorm; the pooled output is the final-normed state at the
/// end-of-text position (the argmax of the ids when `eos_token_id` is 2, as transformers keeps for
/// older configs, otherwise the first `eos_token_id`), projected by `text_projection` in the
/// `WithProjection` variant.
///
/// ```swift
/// let encoder = try CLIPTextModel(directory: folder.appendingPathComponent("text_encoder"))
/// let output = encoder.encode(ids)             // 77 ids
/// output.lastHiddenState                      // SD 1.x / 2.x conditioning (77 × hidden)
/// output.penultimateHiddenState               // SDXL's (hidden_states[-2], no final norm)
/// ```
public final class CLIPTextModel: @unchecked Sendable {
    public static let architectures = ["CLIPTextModel", "CLIPTextModelWithProjection"]

    public let hiddenSize: Int
    public let maxPositions: Int
    /// `projection_dim` when the folder holds a `CLIPTextModelWithProjection`.
    public let projectionSize: Int?
    let vocabularySize: Int
    let eosTokenId: Int
    let activation: VisionActivation
    let shape: AttentionShape
    let tokenEmbedding: WeightMatrix
    let positionEmbedding: WeightMatrix
    let layers: [VisionEncoderLayer]
    /// The weights LoRAs adapt, owned in float32 by module path (a merge writes into them).
    let adaptableWeights: [String: Parameter]
    let finalNorm: LayerNormWeights
    let projection: Linear?
    let intermediateSize: Int

    /// What the pipelines read from one encoder call.
    public struct Output: Sendable {
        /// hidden_states[-1] after the final LayerNorm: `last_hidden_state`.
        public let lastHiddenState: Matrix
        /// hidden_states[-2], the input of the last layer, without the final LayerNorm.
        public let penultimateHiddenState: Matrix
        /// `pooler_output`: the final-normed state at the end-of-text position.
        public let pooled: [Float]
        /// `text_embeds` (pooled · text_projectionᵀ), for `CLIPTextModelWithProjection`.
        public let projected: [Float]?
    }

    public init(directory: URL) throws(ModelLoadingError) {
        let configPath = directory.appendingPathComponent("config.json").path
        guard FileManager.default.fileExists(atPath: configPath) else { throw .missingConfig(path: configPath) }
        guard let data = FileManager.default.contents(atPath: configPath),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .malformedConfig(path: configPath, detail: "not a JSON object")
        }
        let config = ConfigReader(json: json, path: configPath)
        let architecture = (json["architectures"] as? [String])?.first ?? "CLIPTextModel"
        guard Self.architectures.contains(architecture) else { throw .unsupportedArchitecture(name: architecture, path: configPath) }
        hiddenSize = try config.positiveInt("hidden_size", default: 512)
        let heads = try config.positiveInt("num_attention_heads", default: 8)
        guard hiddenSize % heads == 0 else {
            throw .malformedConfig(path: configPath, detail: "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(heads)")
        }
        intermediateSize = try config.positiveInt("intermediate_size", default: 2048)
        let layerCount = try config.positiveInt("num_hidden_layers", default: 12)
        maxPositions = try config.positiveInt("max_position_embeddings", default: 77)
        vocabularySize = try config.positiveInt("vocab_size", default: 49408)
        eosTokenId = try config.optionalInt("eos_token_id") ?? 2
        let eps = Float(try config.double("layer_norm_eps", default: 1e-5))
        activation = try VisionActivation(name: (json["hidden_act"] as? String) ?? "quick_gelu", path: configPath)
        shape = AttentionShape(numHeads: heads, numKVHeads: heads, headDim: hiddenSize / heads)

        let weights = try WeightStore(directory: directory)
        // Real checkpoints name tensors `text_model.…`; transformers 5 saves a CLIPTextModel without the prefix.
        let p = weights.contains("text_model.embeddings.token_embedding.weight") ? "text_model." : ""
        tokenEmbedding = try weights.matrix(p + "embeddings.token_embedding.weight", rows: vocabularySize, cols: hiddenSize)
        positionEmbedding = try weights.matrix(p + "embeddings.position_embedding.weight", rows: maxPositions, cols: hiddenSize)
        var layers: [VisionEncoderLayer] = []
        for index in 0 ..< layerCount {
            layers.append(try VisionEncoderLayer(weights, names: .clip(p + "encoder.layers.\(index)."), width: hiddenSize,
                                                 intermediate: intermediateSize, eps: eps))
        }
        (self.layers, adaptableWeights) = Self.owningAdaptableWeights(layers)
        finalNorm = try LayerNormWeights(weights, p + "final_layer_norm", count: hiddenSize, eps: eps)
        if architecture == "CLIPTextModelWithProjection" {
            let size = try config.positiveInt("projection_dim", default: 512)
            projectionSize = size
            projection = try Linear(weights, "text_projection", out: size, in: hiddenSize, bias: false)
        } else {
            projectionSize = nil
            projection = nil
        }
    }

    /// Encodes one sequence of at most `maxPositions` ids; `adapters` (LoRAs by module path, see
    /// `adaptableModules`) apply to this call only.
    public func encode(_ ids: [Int], adapters: LowRankAdapters = LowRankAdapters()) throws(ForwardError) -> Output {
        guard !ids.isEmpty else { throw .emptyInput }
        guard ids.count <= maxPositions else { throw .sequenceTooLong(count: ids.count, limit: maxPositions) }
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw .tokenOutOfRange(token: bad, vocabSize: vocabularySize)
        }
        let hidden = Matrix(rows: ids.count, cols: hiddenSize)
        let positionRow = Matrix(rows: 1, cols: hiddenSize)
        for (row, id) in ids.enumerated() {
            tokenEmbedding.copyRow(id, to: hidden.row(row))
            positionEmbedding.copyRow(row, to: positionRow.data)
            Kernels.axpy(hidden.row(row), 1, positionRow.data, count: hiddenSize)
        }
        let workspace = VisionWorkspace(rows: ids.count, width: hiddenSize, intermediate: intermediateSize)
        let penultimate = Matrix(rows: ids.count, cols: hiddenSize)
        let adapted = layers(merging: adapters)
        for (index, layer) in adapted.enumerated() {
            if index == adapted.count - 1 { penultimate.data.update(from: hidden.data, count: hidden.count) }
            layer(hidden, shape: shape, activation: activation, causal: true, workspace: workspace)
        }
        let last = Matrix(rows: ids.count, cols: hiddenSize)
        finalNorm.apply(hidden, into: last)
        let eosPosition = eosTokenId == 2
            ? ids.indices.max { ids[$0] < ids[$1] } ?? 0
            : ids.firstIndex(of: eosTokenId) ?? 0
        let pooled = last.rowArray(eosPosition)
        var projected: [Float]?
        if let projection {
            let out = Matrix(rows: 1, cols: projection.weight.rows)
            projection.apply(Matrix(rows: 1, cols: hiddenSize, values: pooled), into: out)
            projected = out.toArray()
        }
        return Output(lastHiddenState: last, penultimateHiddenState: penultimate, pooled: pooled, projected: projected)
    }
}
