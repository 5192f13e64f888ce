import Foundation
import Tensor

/// diffusers' `UNet2DConditionModel` as Stable Diffusion 1.x, 2.x and XL use it: `CrossAttnDownBlock2D`
/// / `DownBlock2D` down blocks, `UNetMidBlock2DCrossAttn`, the mirrored up blocks; SD 2.x's
/// `use_linear_projection` and per-block `attention_head_dim` lists (`upcast_attention` changes
/// nothing here: everything is computed in float32), SDXL's `addition_embed_type: text_time` and
/// `transformer_layers_per_block`. Weights load from a diffusers `unet/` folder (float32, float16 or
/// bfloat16, sharded or not) into float32 `parameters`, named by diffusers module path.
///
/// A call is split where a ControlNet feeds in, so the ControlNet can run elsewhere:
///
/// ```swift
/// let unet = try UNet2DConditionModel(directory: folder.appendingPathComponent("unet"))
/// let state = try unet.downPass(row)                  // row: one latent, timestep, prompt, adapters
/// let noise = try unet.upPass(state, residuals: controlNetResiduals)   // nil without a ControlNet
/// // or, for a batch of rows at different timesteps: try unet.predictNoise(rows)
/// ```
/// Every call is a pure function of its inputs and the current weights.
public final class UNet2DConditionModel: @unchecked Sendable {
    public static let className = "UNet2DConditionModel"

    /// The weights by diffusers name, mutable in place for LoRA merges.
    public let parameters: ParameterStore
    public let outChannels: Int
    let backbone: UNetBackbone
    let up: [UpBlock]
    let normOut: GroupNorm
    let convOut: Conv2d

    struct UpBlock {
        let resnets: [ResnetBlock2D]
        let attentions: [SpatialTransformer]
        let upsample: Upsample?
    }

    /// The state between the two halves of one row's call.
    public struct DownPassState: @unchecked Sendable {
        public let row: DenoiserInput
        let time: Matrix
        /// Skip connections in diffusers' order (what ControlNet down residuals add to).
        public let skips: [FeatureMap]
        /// The mid block's output (what the ControlNet mid residual adds to).
        public let mid: FeatureMap
    }

    /// Loads a diffusers `unet/` folder; errors name the file and tensor at fault.
    public init(directory: URL) throws(ModelLoadingError) {
        let component = try DiffusersComponent(directory: directory, classes: [Self.className])
        let s = try UNetShape(component)
        let store = component.parameters
        parameters = store
        outChannels = try component.config.positiveInt("out_channels", default: 4)
        backbone = try UNetBackbone(store, shape: s)
        for (i, type) in try component.strings("up_block_types").enumerated() {
            let expected = s.downTypes.reversed()[i] == UNetShape.crossAttentionDown ? "CrossAttnUpBlock2D" : "UpBlock2D"
            guard type == expected else {
                throw .unsupportedConfiguration(path: component.configPath, detail: "up block \(i) is '\(type)', expected '\(expected)' to mirror the down blocks")
            }
        }
        let n = s.blockOut.count
        let reversedOut = Array(s.blockOut.reversed())
        var previous = reversedOut[0]
        var blocks: [UpBlock] = []
        for i in 0 ..< n {
            let (out, input) = (reversedOut[i], reversedOut[min(i + 1, n - 1)])
            let block = n - 1 - i
            let layers = s.layersPerBlock[block] + 1
            var resnets: [ResnetBlock2D] = []
            var attentions: [SpatialTransformer] = []
            for j in 0 ..< layers {
                let skip = j == layers - 1 ? input : out
                let inChannels = (j == 0 ? previous : out) + skip
                resnets.append(try ResnetBlock2D(store, "up_blocks.\(i).resnets.\(j)", in: inChannels, out: out,
                                                 timeChannels: s.timeEmbedDim, groups: s.groups, eps: s.eps))
                if s.downTypes[block] == UNetShape.crossAttentionDown {
                    attentions.append(try SpatialTransformer(store, "up_blocks.\(i).attentions.\(j)", channels: out, heads: s.heads[block],
                                                             layers: s.transformerLayers[block], crossDim: s.crossDim, groups: s.groups,
                                                             linearProjection: s.linearProjection))
                }
            }
            let upsample = i == n - 1 ? nil : try Upsample(store, "up_blocks.\(i).upsamplers.0", channels: out)
            blocks.append(UpBlock(resnets: resnets, attentions: attentions, upsample: upsample))
            previous = out
        }
        up = blocks
        normOut = try GroupNorm(store, "conv_norm_out", channels: s.blockOut[0], groups: s.groups, eps: s.eps)
        convOut = try Conv2d(store, "conv_out", in: s.blockOut[0], out: outChannels)
        store.finishLoading()
    }

    /// Channels of each skip connection, in order: the shapes ControlNet down residuals must have.
    public var skipChannels: [Int] { backbone.skipChannels }
    /// Channels of the latent input (`in_channels`).
    public var inChannels: Int { backbone.shape.inChannels }
    /// Width of the encoder hidden states (`cross_attention_dim`).
    public var crossAttentionDim: Int { backbone.shape.crossDim }
    /// Length of SDXL's `text_embeds` (nil when the model takes no added conditions).
    public var textEmbedsDim: Int? { backbone.shape.addition.map { $0.inputDim - 6 * $0.timeDim } }
    /// Latent sides must be multiples of this.
    public var sizeMultiple: Int { backbone.sizeMultiple }

    /// Time embedding, conv_in, down blocks and mid block of one row.
    public func downPass(_ row: DenoiserInput) throws(DenoiserInputError) -> DownPassState {
        try backbone.validate(row)
        let time = backbone.activatedTimeEmbedding(row)
        let (skips, mid) = backbone.downAndMid(row, time: time)
        return DownPassState(row: row, time: time, skips: skips, mid: mid)
    }

    /// Adds `residuals` (nil: none) to the skips and the mid output, then runs the up blocks and the
    /// output head: the model output (noise, or v for v_prediction) with `out_channels` channels.
    public func upPass(_ state: DownPassState, residuals: ControlResiduals? = nil) throws(DenoiserInputError) -> FeatureMap {
        var skips = state.skips
        var sample = state.mid
        if let residuals {
            guard residuals.down.count == skips.count else {
                throw .residuals(detail: "\(residuals.down.count) down residuals for \(skips.count) skip connections")
            }
            func added(_ x: FeatureMap, _ r: FeatureMap, _ name: String) throws(DenoiserInputError) -> FeatureMap {
                guard r.height == x.height, r.width == x.width, r.channels == x.channels else {
                    throw .residuals(detail: "\(name) is \(r.channels)×\(r.height)×\(r.width), expected \(x.channels)×\(x.height)×\(x.width)")
                }
                let out = FeatureMap(height: x.height, width: x.width, channels: x.channels)
                out.pixels.data.update(from: x.pixels.data, count: x.pixels.count)
                Kernels.add(out.pixels, r.pixels)
                return out
            }
            for i in skips.indices { skips[i] = try added(skips[i], residuals.down[i], "down residual \(i)") }
            sample = try added(sample, residuals.mid, "the mid residual")
        }
        let row = state.row
        for block in up {
            for (j, resnet) in block.resnets.enumerated() {
                sample = resnet(sample.concatenatingChannels(skips.removeLast()), activatedTime: state.time, row.adapters)
                if !block.attentions.isEmpty { sample = block.attentions[j](sample, context: row.encoderHiddenStates, row.adapters) }
            }
            if let upsample = block.upsample { sample = upsample(sample, row.adapters) }
        }
        return convOut(normOut(sample, silu: true), row.adapters)
    }

    /// One call over a batch of rows (each with its own timestep, conditioning and adapters), with
    /// optional per-row ControlNet residuals.
    public func predictNoise(_ rows: [DenoiserInput], residuals: [ControlResiduals?]? = nil) throws(DenoiserInputError) -> [FeatureMap] {
        var outputs: [FeatureMap] = []
        for (i, row) in rows.enumerated() {
            outputs.append(try upPass(try downPass(row), residuals: residuals?[i]))
        }
        return outputs
    }
}
