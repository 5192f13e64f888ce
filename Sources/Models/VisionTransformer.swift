import Imaging
import Tensor

/// The CLIP and SigLIP vision transformers (`CLIPVisionModel`, `SiglipVisionModel`): patch
/// embedding, position embeddings (plus CLIP's class token and pre-layernorm), pre-norm encoder
/// layers, and the pooled output (CLIP: class token; SigLIP: attention-pooling head).
///
/// ```swift
/// let tower = try ModelLoader.loadVisionTower(directory: clipFolder)
/// let features = try tower.forward(pixels).hiddenStates[11]   // LLaVA's layer -2 of 12
/// ```
public final class VisionTransformer: VisionTower {
    public let config: VisionTowerConfig
    private let patchEmbedding: Linear
    private let classEmbedding: [Float]?
    private let positionEmbedding: Matrix
    private let preNorm: LayerNormWeights?
    private let layers: [VisionEncoderLayer]
    private let postNorm: LayerNormWeights
    private let head: SiglipPoolingHead?
    private let shape: AttentionShape

    /// `prefix` is where the tower's tensors live, e.g. "vision_model." or "model.vision_tower.".
    init(config c: VisionTowerConfig, weights: WeightStore, prefix p: String) throws(ModelLoadingError) {
        config = c
        let d = c.hiddenSize
        let clip = c.kind == .clip
        patchEmbedding = Linear(
            weight: try weights.flattenedMatrix(p + "embeddings.patch_embedding.weight", shape: [d, c.numChannels, c.patchSize, c.patchSize]),
            bias: clip ? nil : try weights.vector(p + "embeddings.patch_embedding.bias", count: d))
        classEmbedding = clip ? try weights.vector(p + "embeddings.class_embedding", count: d) : nil
        positionEmbedding = Matrix(rows: c.sequenceLength, cols: d,
                                   values: try weights.values(p + "embeddings.position_embedding.weight", shape: [c.sequenceLength, d]))
        preNorm = clip ? try LayerNormWeights(weights, p + "pre_layrnorm", count: d, eps: c.layerNormEps) : nil
        var layers: [VisionEncoderLayer] = []
        for i in 0 ..< c.numLayers {
            layers.append(try VisionEncoderLayer(weights, names: .clip(p + "encoder.layers.\(i)."), width: d,
                                                 intermediate: c.intermediateSize, eps: c.layerNormEps))
        }
        self.layers = layers
        postNorm = try LayerNormWeights(weights, p + "post_layernorm", count: d, eps: c.layerNormEps)
        head = c.usesHead ? try SiglipPoolingHead(weights, prefix: p + "head.", config: c) : nil
        shape = AttentionShape(numHeads: c.numHeads, numKVHeads: c.numHeads, headDim: d / c.numHeads)
    }

    public func sequenceLength(for image: PreprocessedImage) throws -> Int { try config.rows(for: image) }

    /// `hidden_states[0 ... last]`: the embeddings and the outputs of the first `last` layers.
    func hiddenStates(_ image: PreprocessedImage, through last: Int) throws(MultimodalError) -> [Matrix] {
        _ = try config.rows(for: image)
        let c = config
        let hidden = embed(image.pixelValues)
        var states = [copy(hidden)]
        let workspace = VisionWorkspace(rows: hidden.rows, width: c.hiddenSize, intermediate: c.intermediateSize)
        for layer in layers.prefix(last) {
            layer(hidden, shape: shape, activation: c.activation, rope: nil, segment: hidden.rows, workspace: workspace)
            states.append(copy(hidden))
        }
        return states
    }

    public func forward(_ image: PreprocessedImage) throws -> VisionTowerOutput {
        let states = try hiddenStates(image, through: layers.count)
        let last = states[states.count - 1]
        let d = config.hiddenSize
        switch config.kind {
        case .clip:
            let pooled = Matrix(rows: 1, cols: d)
            pooled.data.update(from: last.data, count: d)
            postNorm.apply(pooled, into: pooled)
            return VisionTowerOutput(lastHiddenState: last, poolerOutput: pooled, hiddenStates: states)
        case .siglip:
            let normed = Matrix(rows: last.rows, cols: d)
            postNorm.apply(last, into: normed)
            let pooled = head.map { $0(normed) } ?? Matrix(rows: 0, cols: d)
            return VisionTowerOutput(lastHiddenState: normed, poolerOutput: pooled, hiddenStates: states)
        }
    }

    /// Patch embedding (the stride-P convolution as a product over unfolded patches), class token
    /// and position embeddings, and CLIP's pre-layernorm.
    private func embed(_ pixels: [Float]) -> Matrix {
        let c = config
        let (p, grid, side) = (c.patchSize, c.gridSize, c.imageSize)
        let patches = Matrix(rows: grid * grid, cols: c.numChannels * p * p)
        pixels.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            for gy in 0 ..< grid {
                for gx in 0 ..< grid {
                    var out = patches.row(gy * grid + gx)
                    for channel in 0 ..< c.numChannels {
                        for y in 0 ..< p {
                            out.update(from: base + (channel * side + gy * p + y) * side + gx * p, count: p)
                            out += p
                        }
                    }
                }
            }
        }
        let first = classEmbedding == nil ? 0 : 1
        let hidden = Matrix(rows: c.sequenceLength, cols: c.hiddenSize)
        let embedded = Matrix(rows: patches.rows, cols: c.hiddenSize)
        patchEmbedding.apply(patches, into: embedded)
        hidden.row(first).update(from: embedded.data, count: embedded.count)
        classEmbedding?.withUnsafeBufferPointer { if let b = $0.baseAddress { hidden.data.update(from: b, count: c.hiddenSize) } }
        Kernels.add(hidden, positionEmbedding)
        preNorm?.apply(hidden, into: hidden)
        return hidden
    }
}

/// A copy of `m` (hidden states are kept per layer while the working matrix is updated in place).
func copy(_ m: Matrix) -> Matrix {
    let result = Matrix(rows: m.rows, cols: m.cols)
    result.data.update(from: m.data, count: m.count)
    return result
}

extension Linear {
    init(weight: WeightMatrix, bias: [Float]?) {
        self.weight = weight
        self.bias = bias
    }
}
