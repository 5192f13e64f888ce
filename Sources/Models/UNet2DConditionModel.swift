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
/// Rows of the same latent size run as one batch: every layer's products cover all of them, so
/// the weights stream once per call (the saving at the small maps of the lower levels); each
/// row's output equals its output alone. Every call is a pure function of its inputs and the
/// current weights.
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

    /// The state between the two halves of a call on rows of one latent size.
    public struct DownPassState: @unchecked Sendable {
        public let rows: [DenoiserInput]
        let adapters: BatchAdapters
        let context: BatchContext
        let time: Matrix
        /// Skip connections in diffusers' order (what ControlNet down residuals add to), the rows' images stacked.
        let skips: [FeatureMap]
        /// The mid block's output (what the ControlNet mid residual adds to), the rows' images stacked.
        let mid: FeatureMap
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
    public func downPass(_ row: DenoiserInput) throws(DenoiserInputError) -> DownPassState { try downPass([row]) }

    /// Time embedding, conv_in, down blocks and mid block of rows of one latent size, as one batch.
    public func downPass(_ rows: [DenoiserInput]) throws(DenoiserInputError) -> DownPassState {
        precondition(!rows.isEmpty, "a UNet call needs rows")
        for row in rows {
            try backbone.validate(row)
            let (a, b) = (rows[0].sample, row.sample)
            guard (a.channels, a.height, a.width) == (b.channels, b.height, b.width) else {
                throw .mixedSizes(first: [a.channels, a.height, a.width], other: [b.channels, b.height, b.width])
            }
        }
        let adapters = BatchAdapters(perImage: rows.map(\.adapters))
        let context = BatchContext(rows.map(\.encoderHiddenStates))
        let time = backbone.activatedTimeEmbedding(rows, adapters)
        let (skips, mid) = backbone.downAndMid(FeatureMap.stacking(rows.map(\.sample)), context: context, adapters: adapters, time: time)
        return DownPassState(rows: rows, adapters: adapters, context: context, time: time, skips: skips, mid: mid)
    }

    /// Adds `residuals` (nil: none) to the skips and the mid output, then runs the up blocks and the
    /// output head: the model output (noise, or v for v_prediction) with `out_channels` channels.
    public func upPass(_ state: DownPassState, residuals: ControlResiduals? = nil) throws(DenoiserInputError) -> FeatureMap {
        try upPass(state, rowResiduals: [residuals])[0]
    }

    /// `upPass(_:residuals:)` for every row of `state`, each with its own residuals (nil: none).
    public func upPass(_ state: DownPassState, rowResiduals: [ControlResiduals?]) throws(DenoiserInputError) -> [FeatureMap] {
        precondition(rowResiduals.count == state.rows.count, "one residual entry per row")
        var skips = state.skips
        var sample = state.mid
        if rowResiduals.contains(where: { $0 != nil }) {
            // Copies, so the state stays as the down pass left it.
            func added(_ x: FeatureMap, _ residual: (Int) -> FeatureMap?, _ name: String) throws(DenoiserInputError) -> FeatureMap {
                let out = FeatureMap(height: x.height, width: x.width, channels: x.channels, images: x.images)
                out.pixels.data.update(from: x.pixels.data, count: x.pixels.count)
                for i in 0 ..< x.images {
                    guard let r = residual(i) else { continue }
                    guard r.height == x.height, r.width == x.width, r.channels == x.channels, r.images == 1 else {
                        throw .residuals(detail: "\(name) is \(r.channels)×\(r.height)×\(r.width), expected \(x.channels)×\(x.height)×\(x.width)")
                    }
                    ImageKernels.add(r, toImage: i, of: out)
                }
                return out
            }
            for residuals in rowResiduals.compactMap({ $0 }) where residuals.down.count != skips.count {
                throw .residuals(detail: "\(residuals.down.count) down residuals for \(skips.count) skip connections")
            }
            for k in skips.indices { skips[k] = try added(skips[k], { rowResiduals[$0]?.down[k] }, "down residual \(k)") }
            sample = try added(sample, { rowResiduals[$0]?.mid }, "the mid residual")
        }
        let adapters = state.adapters
        for block in up {
            for (j, resnet) in block.resnets.enumerated() {
                sample = resnet(sample.concatenatingChannels(skips.removeLast()), activatedTime: state.time, adapters)
                if !block.attentions.isEmpty { sample = block.attentions[j](sample, context: state.context, adapters) }
            }
            if let upsample = block.upsample { sample = upsample(sample, adapters) }
        }
        let out = convOut(normOut(sample, silu: true), adapters)
        return out.images == 1 ? [out] : (0 ..< out.images).map { out.image($0) }
    }

    /// One call over a batch of rows (each with its own timestep, conditioning and adapters), with
    /// optional per-row ControlNet residuals; rows of each latent size run as one batch.
    public func predictNoise(_ rows: [DenoiserInput], residuals: [ControlResiduals?]? = nil) throws(DenoiserInputError) -> [FeatureMap] {
        var outputs = [FeatureMap?](repeating: nil, count: rows.count)
        for group in Self.sizeGroups(rows) {
            let predictions = try upPass(try downPass(group.map { rows[$0] }), rowResiduals: group.map { residuals?[$0] ?? nil })
            for (i, prediction) in zip(group, predictions) { outputs[i] = prediction }
        }
        return outputs.map { $0! }
    }

    /// The indices of `rows` grouped by latent size (channels, height, width), in order of first appearance.
    public static func sizeGroups(_ rows: [DenoiserInput]) -> [[Int]] {
        var groups: [[Int]] = []
        var keys: [[Int]] = []
        for (i, row) in rows.enumerated() {
            let key = [row.sample.channels, row.sample.height, row.sample.width]
            if let g = keys.firstIndex(of: key) { groups[g].append(i) } else {
                keys.append(key)
                groups.append([i])
            }
        }
        return groups
    }
}
