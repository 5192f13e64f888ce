import Foundation
import Tensor

/// One row of a denoiser batch: everything a UNet (or ControlNet) call needs for one latent, so
/// rows at different timesteps, with different prompts and different adapters, share a batch.
///
/// ```swift
/// let row = DenoiserInput(sample: FeatureMap(channelsFirst: latents, channels: 4, height: 64, width: 64),
///                         timestep: 981, encoderHiddenStates: promptEmbeddings)   // 77 × cross_attention_dim
/// ```
public struct DenoiserInput: @unchecked Sendable {
    /// The (scaled) latent model input, channels = the UNet's `in_channels`.
    public var sample: FeatureMap
    public var timestep: Float
    /// tokens × cross_attention_dim.
    public var encoderHiddenStates: Matrix
    /// SDXL's `added_cond_kwargs`: `text_embeds` (the pooled projection) and the six `time_ids`
    /// (original size, crop top-left, target size); required by `addition_embed_type: text_time`.
    public var textEmbeds: [Float]?
    public var timeIds: [Float]?
    /// Unmerged LoRAs applied to this row only.
    public var adapters: LowRankAdapters

    public init(sample: FeatureMap, timestep: Float, encoderHiddenStates: Matrix, textEmbeds: [Float]? = nil,
                timeIds: [Float]? = nil, adapters: LowRankAdapters = LowRankAdapters()) {
        self.sample = sample
        self.timestep = timestep
        self.encoderHiddenStates = encoderHiddenStates
        self.textEmbeds = textEmbeds
        self.timeIds = timeIds
        self.adapters = adapters
    }
}

/// A ControlNet's output for one row: one residual per skip connection of the UNet's down pass
/// (diffusers' order) and one for the mid block, already multiplied by the conditioning scale.
public struct ControlResiduals: @unchecked Sendable {
    public var down: [FeatureMap]
    public var mid: FeatureMap

    public init(down: [FeatureMap], mid: FeatureMap) {
        self.down = down
        self.mid = mid
    }

    /// The element-wise sum (diffusers' MultiControlNet: each net's scaled residuals are summed).
    public static func + (a: ControlResiduals, b: ControlResiduals) -> ControlResiduals {
        precondition(a.down.count == b.down.count, "ControlNets with different block layouts cannot be summed")
        func sum(_ x: FeatureMap, _ y: FeatureMap) -> FeatureMap {
            let out = FeatureMap(height: x.height, width: x.width, channels: x.channels)
            out.pixels.data.update(from: x.pixels.data, count: x.pixels.count)
            Kernels.add(out.pixels, y.pixels)
            return out
        }
        return ControlResiduals(down: zip(a.down, b.down).map(sum), mid: sum(a.mid, b.mid))
    }
}

/// Why a denoiser call cannot run; the message names what is wrong.
public enum DenoiserInputError: Error, Equatable, CustomStringConvertible {
    case sampleChannels(expected: Int, actual: Int)
    case sampleSize(height: Int, width: Int, multiple: Int)
    case contextWidth(expected: Int, actual: Int)
    case missingAddedConditions
    case addedConditionsSize(textEmbeds: Int, timeIds: Int, expected: Int)
    case residuals(detail: String)
    case conditionSize(expected: [Int], actual: [Int])
    case mixedSizes(first: [Int], other: [Int])

    public var description: String {
        switch self {
        case let .sampleChannels(expected, actual): "the latent sample has \(actual) channels, the model takes \(expected)"
        case let .sampleSize(height, width, multiple): "latent size \(height)×\(width) is not a multiple of \(multiple)"
        case let .contextWidth(expected, actual): "encoder hidden states have width \(actual), the model's cross_attention_dim is \(expected)"
        case .missingAddedConditions: "this model (addition_embed_type text_time) needs text_embeds and time_ids"
        case let .addedConditionsSize(text, time, expected): "text_embeds (\(text)) + 6 time_ids (\(time)) do not match projection_class_embeddings_input_dim \(expected)"
        case let .residuals(detail): "ControlNet residuals do not fit this UNet: \(detail)"
        case let .conditionSize(expected, actual): "control image is \(actual), expected \(expected) (channels, height, width)"
        case let .mixedSizes(first, other): "rows of one call differ in latent size: \(first) and \(other) (channels, height, width)"
        }
    }
}

/// What a UNet-shaped `config.json` says (diffusers `UNet2DConditionModel` / `ControlNetModel`).
struct UNetShape {
    let inChannels: Int
    let blockOut: [Int]
    let layersPerBlock: [Int]
    let downTypes: [String]
    let crossDim: Int
    let heads: [Int]
    let transformerLayers: [Int]
    let linearProjection: Bool
    let groups: Int
    let eps: Float
    let flipSinToCos: Bool
    let freqShift: Float
    /// SDXL's `text_time` additional embedding: (addition_time_embed_dim, projection_class_embeddings_input_dim).
    let addition: (timeDim: Int, inputDim: Int)?

    static let crossAttentionDown = "CrossAttnDownBlock2D"
    static let plainDown = "DownBlock2D"

    init(_ c: DiffusersComponent) throws(ModelLoadingError) {
        let cfg = c.config
        inChannels = try cfg.positiveInt("in_channels", default: 4)
        blockOut = try c.ints("block_out_channels")
        let n = blockOut.count
        layersPerBlock = try c.perBlock("layers_per_block", count: n, default: 2)
        downTypes = try c.strings("down_block_types")
        guard downTypes.count == n else { throw .malformedConfig(path: c.configPath, detail: "\(downTypes.count) down_block_types for \(n) blocks") }
        for type in downTypes where type != Self.crossAttentionDown && type != Self.plainDown {
            throw .unsupportedConfiguration(path: c.configPath, detail: "down block type '\(type)' (supported: \(Self.crossAttentionDown), \(Self.plainDown))")
        }
        crossDim = try cfg.positiveInt("cross_attention_dim")
        // diffusers reads attention_head_dim as the head count when num_attention_heads is unset (SD 1.x/2.x/XL configs).
        heads = cfg.json["num_attention_heads"].map { !($0 is NSNull) } == true
            ? try c.perBlock("num_attention_heads", count: n) : try c.perBlock("attention_head_dim", count: n, default: 8)
        transformerLayers = try c.perBlock("transformer_layers_per_block", count: n, default: 1)
        linearProjection = try cfg.bool("use_linear_projection", default: false)
        groups = try cfg.positiveInt("norm_num_groups", default: 32)
        eps = Float(try cfg.double("norm_eps", default: 1e-5))
        flipSinToCos = try cfg.bool("flip_sin_to_cos", default: true)
        freqShift = Float(try cfg.double("freq_shift", default: 0))
        switch try cfg.string("addition_embed_type") {
        case nil: addition = nil
        case "text_time":
            addition = (try cfg.positiveInt("addition_time_embed_dim"), try cfg.positiveInt("projection_class_embeddings_input_dim"))
        case let other?:
            throw .unsupportedConfiguration(path: c.configPath, detail: "addition_embed_type '\(other)' (supported: text_time)")
        }
        if try cfg.string("mid_block_type").map({ $0 != "UNetMidBlock2DCrossAttn" }) == true {
            throw .unsupportedConfiguration(path: c.configPath, detail: "mid_block_type '\(cfg.json["mid_block_type"]!)' (supported: UNetMidBlock2DCrossAttn)")
        }
        for (key, value) in [("class_embed_type", nil), ("encoder_hid_dim_type", nil), ("time_cond_proj_dim", nil),
                             ("time_embedding_type", "positional"), ("resnet_time_scale_shift", "default"),
                             ("conv_in_kernel", 3), ("conv_out_kernel", 3), ("dual_cross_attention", false),
                             ("only_cross_attention", false), ("center_input_sample", false), ("time_embedding_dim", nil),
                             ("timestep_post_act", nil), ("attention_type", "default"), ("resnet_skip_time_act", false),
                             ("cross_attention_norm", nil), ("num_class_embeds", nil), ("class_embeddings_concat", false),
                             ("mid_block_only_cross_attention", nil), ("addition_embed_type_num_heads", 64),
                             ("reverse_transformer_layers_per_block", nil), ("encoder_hid_dim", nil)] as [(String, Any?)] {
            try c.require(key, equals: value)
        }
        if let act = try cfg.string("act_fn"), act != "silu" { throw .unsupportedConfiguration(path: c.configPath, detail: "act_fn '\(act)' (supported: silu)") }
    }

    var timeEmbedDim: Int { 4 * blockOut[0] }
}

/// The part of the UNet a ControlNet copies: time embedding (and SDXL's text_time embedding),
/// `conv_in`, the down blocks and the mid block.
final class UNetBackbone: @unchecked Sendable {
    let shape: UNetShape
    let timeEmbedding: TimestepEmbedding
    let addEmbedding: TimestepEmbedding?
    let convIn: Conv2d
    let down: [DownBlock]
    let midResnets: [ResnetBlock2D]
    let midAttention: SpatialTransformer

    struct DownBlock {
        let resnets: [ResnetBlock2D]
        let attentions: [SpatialTransformer]
        let downsample: Downsample?
    }

    init(_ store: ParameterStore, shape s: UNetShape) throws(ModelLoadingError) {
        shape = s
        timeEmbedding = try TimestepEmbedding(store, "time_embedding", in: s.blockOut[0], dim: s.timeEmbedDim)
        addEmbedding = try s.addition.map { a throws(ModelLoadingError) in try TimestepEmbedding(store, "add_embedding", in: a.inputDim, dim: s.timeEmbedDim) }
        convIn = try Conv2d(store, "conv_in", in: s.inChannels, out: s.blockOut[0])
        var blocks: [DownBlock] = []
        for (i, out) in s.blockOut.enumerated() {
            var channels = i == 0 ? s.blockOut[0] : s.blockOut[i - 1]
            var resnets: [ResnetBlock2D] = []
            var attentions: [SpatialTransformer] = []
            for j in 0 ..< s.layersPerBlock[i] {
                resnets.append(try ResnetBlock2D(store, "down_blocks.\(i).resnets.\(j)", in: channels, out: out,
                                                 timeChannels: s.timeEmbedDim, groups: s.groups, eps: s.eps))
                channels = out
                if s.downTypes[i] == UNetShape.crossAttentionDown {
                    attentions.append(try SpatialTransformer(store, "down_blocks.\(i).attentions.\(j)", channels: out, heads: s.heads[i],
                                                             layers: s.transformerLayers[i], crossDim: s.crossDim, groups: s.groups,
                                                             linearProjection: s.linearProjection))
                }
            }
            let downsample = i == s.blockOut.count - 1 ? nil
                : try Downsample(store, "down_blocks.\(i).downsamplers.0", channels: out, asymmetricPadding: false)
            blocks.append(DownBlock(resnets: resnets, attentions: attentions, downsample: downsample))
        }
        down = blocks
        let c = s.blockOut.last!
        midResnets = try (0 ..< 2).map { j throws(ModelLoadingError) in
            try ResnetBlock2D(store, "mid_block.resnets.\(j)", in: c, out: c, timeChannels: s.timeEmbedDim, groups: s.groups, eps: s.eps)
        }
        midAttention = try SpatialTransformer(store, "mid_block.attentions.0", channels: c, heads: s.heads.last!,
                                              layers: s.transformerLayers.last!, crossDim: s.crossDim, groups: s.groups,
                                              linearProjection: s.linearProjection)
    }

    /// Skip connections of the down pass, in order (conv_in's output, then one per resnet, one per downsampler).
    var skipChannels: [Int] {
        var channels = [shape.blockOut[0]]
        for (i, block) in down.enumerated() {
            channels += Array(repeating: shape.blockOut[i], count: block.resnets.count)
            if block.downsample != nil { channels.append(shape.blockOut[i]) }
        }
        return channels
    }

    /// Latent sides must divide by this (each downsampler halves them).
    var sizeMultiple: Int { 1 << (shape.blockOut.count - 1) }

    func validate(_ row: DenoiserInput) throws(DenoiserInputError) {
        guard row.sample.channels == shape.inChannels else { throw .sampleChannels(expected: shape.inChannels, actual: row.sample.channels) }
        guard row.sample.height % sizeMultiple == 0, row.sample.width % sizeMultiple == 0 else {
            throw .sampleSize(height: row.sample.height, width: row.sample.width, multiple: sizeMultiple)
        }
        guard row.encoderHiddenStates.cols == shape.crossDim else {
            throw .contextWidth(expected: shape.crossDim, actual: row.encoderHiddenStates.cols)
        }
        if let addition = shape.addition {
            guard let text = row.textEmbeds, let time = row.timeIds else { throw .missingAddedConditions }
            guard time.count == 6, text.count + 6 * addition.timeDim == addition.inputDim else {
                throw .addedConditionsSize(textEmbeds: text.count, timeIds: time.count, expected: addition.inputDim)
            }
        }
    }

    /// SiLU(temb) for each of `rows`, rows × time_embed_dim: what every resnet's time_emb_proj reads.
    func activatedTimeEmbedding(_ rows: [DenoiserInput], _ adapters: BatchAdapters) -> Matrix {
        let s = shape
        let sinusoid = ImageKernels.timestepEmbedding(rows.map(\.timestep), dim: s.blockOut[0], flipSinToCos: s.flipSinToCos,
                                                      downscaleFreqShift: s.freqShift)
        let embedding = timeEmbedding(sinusoid, adapters)
        if let addEmbedding, let addition = s.addition {
            let input = Matrix(rows: rows.count, cols: addition.inputDim)
            for (i, row) in rows.enumerated() {
                guard let text = row.textEmbeds, let time = row.timeIds else { preconditionFailure("rows are validated first") }
                let times = ImageKernels.timestepEmbedding(time, dim: addition.timeDim, flipSinToCos: s.flipSinToCos,
                                                           downscaleFreqShift: s.freqShift)
                let values = text + times.toArray()
                input.row(i).update(from: values, count: values.count)
            }
            Kernels.add(embedding, addEmbedding(input, adapters))
        }
        ImageKernels.silu(embedding)
        return embedding
    }

    /// conv_in (plus `addAfterConvIn`, a ControlNet's conditioning embedding), the down blocks and
    /// the mid block over `sample` (the rows' latents, stacked): returns the skip connections and
    /// the mid block's output, batched as `sample` is.
    func downAndMid(_ sample: FeatureMap, context: BatchContext, adapters: BatchAdapters, time: Matrix,
                    addAfterConvIn: FeatureMap? = nil) -> (skips: [FeatureMap], mid: FeatureMap) {
        var sample = convIn(sample, adapters)
        if let addAfterConvIn { Kernels.add(sample.pixels, addAfterConvIn.pixels) }
        var skips = [sample]
        for block in down {
            for (j, resnet) in block.resnets.enumerated() {
                sample = resnet(sample, activatedTime: time, adapters)
                if !block.attentions.isEmpty { sample = block.attentions[j](sample, context: context, adapters) }
                skips.append(sample)
            }
            if let downsample = block.downsample {
                sample = downsample(sample, adapters)
                skips.append(sample)
            }
        }
        sample = midResnets[0](sample, activatedTime: time, adapters)
        sample = midAttention(sample, context: context, adapters)
        sample = midResnets[1](sample, activatedTime: time, adapters)
        return (skips, sample)
    }
}
