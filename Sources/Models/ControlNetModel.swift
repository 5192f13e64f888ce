import Foundation
import Tensor

/// diffusers' `ControlNetModel`: a copy of the UNet's time embedding, conv_in, down blocks and mid
/// block, plus the conditioning embedding (conv_in, SiLU, pairs of 3×3 convolutions the second of
/// each stride 2, conv_out) added after conv_in, and a 1×1 zero convolution per skip connection
/// (`controlnet_down_blocks`) and for the mid block (`controlnet_mid_block`).
///
/// ```swift
/// let controlNet = try ControlNetModel(directory: controlNetFolder)
/// let residuals = try controlNet.residuals(row, condition: controlImage, scale: 0.8)  // image 3×H×W in [0, 1]
/// let noise = try unet.upPass(try unet.downPass(row), residuals: residuals)
/// ```
public final class ControlNetModel: @unchecked Sendable {
    public static let className = "ControlNetModel"

    public let parameters: ParameterStore
    let backbone: UNetBackbone
    let conditionIn: Conv2d
    let conditionBlocks: [Conv2d]
    let conditionOut: Conv2d
    let downProjections: [AdaptedLinear]
    let midProjection: AdaptedLinear
    /// Channels of the control image (`conditioning_channels`).
    public let conditioningChannels: Int

    public init(directory: URL) throws(ModelLoadingError) {
        let component = try DiffusersComponent(directory: directory, classes: [Self.className])
        let s = try UNetShape(component)
        let store = component.parameters
        parameters = store
        backbone = try UNetBackbone(store, shape: s)
        try component.require("controlnet_conditioning_channel_order", equals: "rgb")
        try component.require("global_pool_conditions", equals: false)
        conditioningChannels = try component.config.positiveInt("conditioning_channels", default: 3)
        let embedding = component.config.json["conditioning_embedding_out_channels"] == nil
            ? [16, 32, 96, 256] : try component.ints("conditioning_embedding_out_channels")
        conditionIn = try Conv2d(store, "controlnet_cond_embedding.conv_in", in: conditioningChannels, out: embedding[0])
        var blocks: [Conv2d] = []
        for i in 0 ..< embedding.count - 1 {
            blocks.append(try Conv2d(store, "controlnet_cond_embedding.blocks.\(2 * i)", in: embedding[i], out: embedding[i]))
            blocks.append(try Conv2d(store, "controlnet_cond_embedding.blocks.\(2 * i + 1)", in: embedding[i], out: embedding[i + 1], stride: 2))
        }
        conditionBlocks = blocks
        conditionOut = try Conv2d(store, "controlnet_cond_embedding.conv_out", in: embedding.last!, out: s.blockOut[0])
        downProjections = try backbone.skipChannels.enumerated().map { i, c throws(ModelLoadingError) in
            try AdaptedLinear(store, "controlnet_down_blocks.\(i)", in: c, out: c, convolution: true)
        }
        midProjection = try AdaptedLinear(store, "controlnet_mid_block", in: s.blockOut.last!, out: s.blockOut.last!, convolution: true)
        store.finishLoading()
    }

    /// Pixels of the control image per latent pixel (2^(embedding blocks − 1); 8 for SD).
    public var conditionScaleFactor: Int { 1 << (conditionBlocks.count / 2) }

    /// The residuals for one row: `condition` is the preprocessed control image (channels × H × W,
    /// H = latent height · `conditionScaleFactor`), `scale` diffusers' `conditioning_scale`.
    public func residuals(_ row: DenoiserInput, condition: FeatureMap, scale: Float) throws(DenoiserInputError) -> ControlResiduals {
        try backbone.validate(row)
        let expected = [conditioningChannels, row.sample.height * conditionScaleFactor, row.sample.width * conditionScaleFactor]
        guard [condition.channels, condition.height, condition.width] == expected else {
            throw .conditionSize(expected: expected, actual: [condition.channels, condition.height, condition.width])
        }
        var embedded = conditionIn(condition)
        ImageKernels.silu(embedded.pixels)
        for block in conditionBlocks {
            embedded = block(embedded)
            ImageKernels.silu(embedded.pixels)
        }
        embedded = conditionOut(embedded)
        let adapters = BatchAdapters(row.adapters)
        let time = backbone.activatedTimeEmbedding([row], adapters)
        let (skips, mid) = backbone.downAndMid(row.sample, context: BatchContext([row.encoderHiddenStates]), adapters: adapters, time: time,
                                               addAfterConvIn: embedded)
        func project(_ layer: AdaptedLinear, _ x: FeatureMap) -> FeatureMap {
            let out = layer(x, adapters)
            ImageKernels.scale(out.pixels, by: scale)
            return out
        }
        return ControlResiduals(down: zip(downProjections, skips).map(project), mid: project(midProjection, mid))
    }
}
