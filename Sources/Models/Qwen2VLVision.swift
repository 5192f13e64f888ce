import Foundation
import Imaging
import Tensor

/// The Qwen2-VL vision transformer (`Qwen2VisionTransformerPretrainedModel`): a conv3d patch
/// embedding (a linear layer over the processor's flattened patches), 2-D rotary attention over
/// each frame, and the patch merger (LayerNorm, then an MLP over each 2×2 block of patches).
///
/// ```swift
/// let input = try Qwen2VLImageProcessor(configData: json).preprocess(image)   // [patches, 1176]
/// let tokens = try vision.forward(input).poolerOutput                           // patches / 4 rows
/// ```
public final class Qwen2VLVisionTransformer: VisionTower {
    public let config: Qwen2VLVisionConfig
    private let patchEmbedding: Linear
    private let blocks: [VisionEncoderLayer]
    private let mergerNorm: LayerNormWeights
    private let mergerIn: Linear
    private let mergerOut: Linear
    /// Rotary frequencies of one spatial axis (headDim/4 values), shared by height and width.
    private let inverseFrequencies: [Float]
    private let shape: AttentionShape

    init(config c: Qwen2VLVisionConfig, weights: WeightStore, prefix p: String) throws(ModelLoadingError) {
        config = c
        let d = c.embedDim
        patchEmbedding = Linear(weight: try weights.flattenedMatrix(p + "patch_embed.proj.weight",
                                                                    shape: [d, c.inChannels, c.temporalPatchSize, c.patchSize, c.patchSize]),
                                bias: nil)
        var blocks: [VisionEncoderLayer] = []
        for i in 0 ..< c.depth {
            blocks.append(try VisionEncoderLayer(weights, names: .qwen2VL(p + "blocks.\(i)."), width: d, intermediate: c.intermediateSize, eps: 1e-6))
        }
        self.blocks = blocks
        let merged = d * c.spatialMergeSize * c.spatialMergeSize
        mergerNorm = try LayerNormWeights(weights, p + "merger.ln_q", count: d, eps: 1e-6)
        mergerIn = try Linear(weights, p + "merger.mlp.0", out: merged, in: merged, bias: true)
        mergerOut = try Linear(weights, p + "merger.mlp.2", out: c.outputSize, in: merged, bias: true)
        inverseFrequencies = RotaryEmbedding.frequencies(headDim: c.headDim / 2, theta: c.ropeTheta, scaling: .none,
                                                         sequenceLength: nil, maxPositionEmbeddings: 1)
        shape = AttentionShape(numHeads: c.numHeads, numKVHeads: c.numHeads, headDim: c.headDim)
    }

    public func sequenceLength(for image: PreprocessedImage) throws -> Int {
        let g = try config.grid(of: image)
        return g.t * g.h * g.w
    }

    public func forward(_ image: PreprocessedImage) throws -> VisionTowerOutput {
        try run(image, keepStates: true)
    }

    /// The merger's output only: what the language model consumes.
    func features(_ image: PreprocessedImage) throws(MultimodalError) -> Matrix {
        try run(image, keepStates: false).poolerOutput
    }

    private func run(_ image: PreprocessedImage, keepStates: Bool) throws(MultimodalError) -> VisionTowerOutput {
        let c = config
        let g = try config.grid(of: image)
        let count = g.t * g.h * g.w
        let hidden = Matrix(rows: count, cols: c.embedDim)
        let pixels = Matrix(rows: count, cols: c.patchWidth, values: image.pixelValues)
        patchEmbedding.apply(pixels, into: hidden)
        let rope = ropeTables(g)
        let workspace = VisionWorkspace(rows: count, width: c.embedDim, intermediate: c.intermediateSize)
        var states = keepStates ? [copy(hidden)] : []
        for block in blocks {
            // Attention stays within each frame (transformers' cu_seqlens).
            block(hidden, shape: shape, activation: c.activation, rope: rope, segment: g.h * g.w, workspace: workspace)
            if keepStates { states.append(copy(hidden)) }
        }
        let normed = Matrix(rows: count, cols: c.embedDim)
        mergerNorm.apply(hidden, into: normed)
        // Each merge block's patches are consecutive rows, so the blocks are rows of a wider matrix.
        let group = c.spatialMergeSize * c.spatialMergeSize
        let blocksIn = Matrix(rows: count / group, cols: c.embedDim * group)
        blocksIn.data.update(from: normed.data, count: normed.count)
        let middle = Matrix(rows: blocksIn.rows, cols: blocksIn.cols)
        mergerIn.apply(blocksIn, into: middle)
        Kernels.gelu(middle, approximateTanh: false)
        let merged = Matrix(rows: blocksIn.rows, cols: c.outputSize)
        mergerOut.apply(middle, into: merged)
        return VisionTowerOutput(lastHiddenState: hidden, poolerOutput: merged, hiddenStates: states)
    }

    /// cos/sin per patch in the processor's block-major order: the first half of each table row
    /// rotates by the patch's row, the second by its column.
    private func ropeTables(_ g: (t: Int, h: Int, w: Int)) -> (cos: Matrix, sin: Matrix) {
        let m = config.spatialMergeSize
        let quarter = inverseFrequencies.count
        let cos = Matrix(rows: g.t * g.h * g.w, cols: 2 * quarter), sin = Matrix(rows: cos.rows, cols: cos.cols)
        var row = 0
        for _ in 0 ..< g.t {
            for blockRow in 0 ..< g.h / m {
                for blockColumn in 0 ..< g.w / m {
                    for i in 0 ..< m {
                        for j in 0 ..< m {
                            let position = [blockRow * m + i, blockColumn * m + j]
                            for axis in 0 ..< 2 {
                                for f in 0 ..< quarter {
                                    // float32 angle, as torch forms position * inv_freq.
                                    let angle = Double(Float(position[axis]) * inverseFrequencies[f])
                                    cos[row, axis * quarter + f] = Float(Foundation.cos(angle))
                                    sin[row, axis * quarter + f] = Float(Foundation.sin(angle))
                                }
                            }
                            row += 1
                        }
                    }
                }
            }
        }
        return (cos, sin)
    }
}
