import Foundation
import Tensor

/// diffusers' `AutoencoderKL` (the Stable Diffusion VAE): an encoder from images in [-1, 1] to a
/// diagonal Gaussian over latents (after `quant_conv`), and a decoder from latents (after
/// `post_quant_conv`) to images. Scaling by `scalingFactor` is the pipeline's job, as in diffusers.
///
/// ```swift
/// let vae = try AutoencoderKL(directory: folder.appendingPathComponent("vae"))
/// let posterior = vae.encode(image)                    // image: 3 × H × W in [-1, 1]
/// let latents = posterior.sample(noise: noise)         // mean + std · noise
/// let decoded = vae.decode(latents)                    // 3 × H × W, roughly [-1, 1]
/// ```
public final class AutoencoderKL: @unchecked Sendable {
    public static let className = "AutoencoderKL"

    public let parameters: ParameterStore
    public let latentChannels: Int
    /// `scaling_factor` from the config (0.18215 for SD 1.x/2.x, 0.13025 for SDXL).
    public let scalingFactor: Float
    /// `shift_factor` (null in SD's VAEs: 0).
    public let shiftFactor: Float
    /// Image pixels per latent pixel: 2^(blocks − 1).
    public let scaleFactor: Int
    let encoder: Coder
    let quantConv: AdaptedLinear?
    let postQuantConv: AdaptedLinear?
    let decoder: Coder

    /// The decoder's channels at full resolution (its first block's width), what a VAE pass's memory scales with.
    public var fullResolutionChannels: Int { decoder.convOut.weight.shape[1] }

    /// The posterior over latents: mean and standard deviation (exp(½·clamp(logvar, −30, 20))).
    public struct LatentDistribution: @unchecked Sendable {
        public let mean: FeatureMap
        public let std: FeatureMap

        /// mean + std · noise, with `noise` of the latents' shape.
        public func sample(noise: FeatureMap) -> FeatureMap {
            precondition(noise.pixels.count == mean.pixels.count, "noise must have the latents' shape")
            let out = FeatureMap(height: mean.height, width: mean.width, channels: mean.channels)
            for i in 0 ..< out.pixels.count { out.pixels.data[i] = mean.pixels.data[i] + std.pixels.data[i] * noise.pixels.data[i] }
            return out
        }
    }

    /// An encoder or decoder: conv_in, blocks of resnets with down- or upsamplers, the mid block
    /// (resnet, single-head self-attention, resnet), GroupNorm + SiLU, conv_out.
    struct Coder {
        let convIn: Conv2d
        /// The decoder runs its mid block before the up blocks, the encoder after the down blocks.
        let midFirst: Bool
        let blocks: [(resnets: [ResnetBlock2D], resample: Resample?)]
        let midResnets: [ResnetBlock2D]
        let midAttention: VAEAttention
        let normOut: GroupNorm
        let convOut: Conv2d

        enum Resample {
            case down(Downsample)
            case up(Upsample)
        }

        func callAsFunction(_ x: FeatureMap) -> FeatureMap {
            let none = BatchAdapters()
            var h = convIn(x)
            if midFirst { h = middle(h, none) }
            for block in blocks {
                for resnet in block.resnets { h = resnet(h, activatedTime: nil, none) }
                switch block.resample {
                case let .down(d)?: h = d(h)
                case let .up(u)?: h = u(h)
                case nil: break
                }
            }
            if !midFirst { h = middle(h, none) }
            return convOut(normOut(h, silu: true))
        }

        private func middle(_ x: FeatureMap, _ none: BatchAdapters) -> FeatureMap {
            var h = midResnets[0](x, activatedTime: nil, none)
            h = midAttention(h)
            return midResnets[1](h, activatedTime: nil, none)
        }
    }

    /// The VAE mid block's attention: GroupNorm, one head over all pixels, to_out, + input.
    struct VAEAttention {
        let norm: GroupNorm
        let attention: MultiHeadAttention

        init(_ store: ParameterStore, _ path: String, channels: Int, groups: Int, eps: Float) throws(ModelLoadingError) {
            norm = try GroupNorm(store, path + ".group_norm", channels: channels, groups: groups, eps: eps)
            attention = try MultiHeadAttention(store, path, dim: channels, contextDim: channels, heads: 1, headDim: channels, qkvBias: true)
        }

        func callAsFunction(_ x: FeatureMap) -> FeatureMap {
            let out = attention(norm(x).pixels, images: x.images, context: nil, BatchAdapters())
            Kernels.add(out, x.pixels)
            return FeatureMap(height: x.height, width: x.width, pixels: out, images: x.images)
        }
    }

    public init(directory: URL) throws(ModelLoadingError) {
        let component = try DiffusersComponent(directory: directory, classes: [Self.className])
        let cfg = component.config
        let store = component.parameters
        parameters = store
        let blockOut = try component.ints("block_out_channels")
        let n = blockOut.count
        let layers = try cfg.positiveInt("layers_per_block", default: 1)
        let groups = try cfg.positiveInt("norm_num_groups", default: 32)
        let inChannels = try cfg.positiveInt("in_channels", default: 3)
        let outChannels = try cfg.positiveInt("out_channels", default: 3)
        latentChannels = try cfg.positiveInt("latent_channels", default: 4)
        scalingFactor = Float(try cfg.double("scaling_factor", default: 0.18215))
        shiftFactor = Float(try cfg.double("shift_factor", default: 0))
        scaleFactor = 1 << (n - 1)
        for type in try component.strings("down_block_types") where type != "DownEncoderBlock2D" {
            throw .unsupportedConfiguration(path: component.configPath, detail: "down block type '\(type)' (supported: DownEncoderBlock2D)")
        }
        for type in try component.strings("up_block_types") where type != "UpDecoderBlock2D" {
            throw .unsupportedConfiguration(path: component.configPath, detail: "up block type '\(type)' (supported: UpDecoderBlock2D)")
        }
        for (key, value) in [("mid_block_add_attention", true), ("act_fn", "silu")] as [(String, Any?)] {
            try component.require(key, equals: value)
        }
        let useQuantConv = try cfg.bool("use_quant_conv", default: true)
        let usePostQuantConv = try cfg.bool("use_post_quant_conv", default: true)
        let eps: Float = 1e-6

        func midBlock(_ prefix: String) throws(ModelLoadingError) -> ([ResnetBlock2D], VAEAttention) {
            let c = blockOut.last!
            let resnets = try (0 ..< 2).map { j throws(ModelLoadingError) in
                try ResnetBlock2D(store, "\(prefix).mid_block.resnets.\(j)", in: c, out: c, timeChannels: nil, groups: groups, eps: eps)
            }
            return (resnets, try VAEAttention(store, "\(prefix).mid_block.attentions.0", channels: c, groups: groups, eps: eps))
        }

        var encoderBlocks: [(resnets: [ResnetBlock2D], resample: Coder.Resample?)] = []
        var channels = blockOut[0]
        for (i, out) in blockOut.enumerated() {
            var resnets: [ResnetBlock2D] = []
            for j in 0 ..< layers {
                resnets.append(try ResnetBlock2D(store, "encoder.down_blocks.\(i).resnets.\(j)", in: channels, out: out,
                                                 timeChannels: nil, groups: groups, eps: eps))
                channels = out
            }
            let resample = i == n - 1 ? nil
                : Coder.Resample.down(try Downsample(store, "encoder.down_blocks.\(i).downsamplers.0", channels: out, asymmetricPadding: true))
            encoderBlocks.append((resnets, resample))
        }
        let (encoderMid, encoderAttention) = try midBlock("encoder")
        let doubleZ = try cfg.bool("double_z", default: true)
        guard doubleZ else { throw .unsupportedConfiguration(path: component.configPath, detail: "'double_z' false (no latent variance)") }
        encoder = Coder(
            convIn: try Conv2d(store, "encoder.conv_in", in: inChannels, out: blockOut[0]), midFirst: false, blocks: encoderBlocks,
            midResnets: encoderMid, midAttention: encoderAttention,
            normOut: try GroupNorm(store, "encoder.conv_norm_out", channels: blockOut.last!, groups: groups, eps: eps),
            convOut: try Conv2d(store, "encoder.conv_out", in: blockOut.last!, out: 2 * latentChannels)
        )
        quantConv = useQuantConv ? try AdaptedLinear(store, "quant_conv", in: 2 * latentChannels, out: 2 * latentChannels, convolution: true) : nil
        postQuantConv = usePostQuantConv ? try AdaptedLinear(store, "post_quant_conv", in: latentChannels, out: latentChannels, convolution: true) : nil

        var decoderBlocks: [(resnets: [ResnetBlock2D], resample: Coder.Resample?)] = []
        let reversedOut = Array(blockOut.reversed())
        channels = reversedOut[0]
        for (i, out) in reversedOut.enumerated() {
            var resnets: [ResnetBlock2D] = []
            for j in 0 ... layers {
                resnets.append(try ResnetBlock2D(store, "decoder.up_blocks.\(i).resnets.\(j)", in: channels, out: out,
                                                 timeChannels: nil, groups: groups, eps: eps))
                channels = out
            }
            let resample = i == n - 1 ? nil : Coder.Resample.up(try Upsample(store, "decoder.up_blocks.\(i).upsamplers.0", channels: out))
            decoderBlocks.append((resnets, resample))
        }
        let (decoderMid, decoderAttention) = try midBlock("decoder")
        decoder = Coder(
            convIn: try Conv2d(store, "decoder.conv_in", in: latentChannels, out: blockOut.last!), midFirst: true, blocks: decoderBlocks,
            midResnets: decoderMid, midAttention: decoderAttention,
            normOut: try GroupNorm(store, "decoder.conv_norm_out", channels: blockOut[0], groups: groups, eps: eps),
            convOut: try Conv2d(store, "decoder.conv_out", in: blockOut[0], out: outChannels)
        )
        store.finishLoading()
    }

    /// The posterior of `image` (in_channels × H × W in [-1, 1]; H and W multiples of `scaleFactor`).
    public func encode(_ image: FeatureMap) -> LatentDistribution {
        var moments = encoder(image)
        if let quantConv { moments = quantConv(moments, BatchAdapters()) }
        let c = latentChannels
        let mean = FeatureMap(height: moments.height, width: moments.width, channels: c)
        let std = FeatureMap(height: moments.height, width: moments.width, channels: c)
        for p in 0 ..< moments.pixels.rows {
            let row = moments.pixels.row(p)
            for k in 0 ..< c {
                mean.pixels[p, k] = row[k]
                std.pixels[p, k] = Foundation.exp(0.5 * min(max(row[c + k], -30), 20))
            }
        }
        return LatentDistribution(mean: mean, std: std)
    }

    /// The image of unscaled `latents` (latent_channels × h × w).
    public func decode(_ latents: FeatureMap) -> FeatureMap {
        decoder(postQuantConv.map { $0(latents, BatchAdapters()) } ?? latents)
    }
}
