import Foundation
import Tensor

// The building blocks diffusers' UNet2DConditionModel, ControlNetModel and AutoencoderKL share
// (diffusers `models/resnet.py`, `attention_processor.py`, `transformers/transformer_2d.py`), on
// channels-last feature maps of one image or a batch of same-sized images (a denoiser call's rows).
// Every image of a batch comes out bit for bit as it would alone, so a request's image does not
// depend on what it was batched with: products whose rounding depends on their row count (sgemm's)
// run per image, and only the Winograd products, whose rounding does not, share one pass over
// their weights (the saving at the small maps of the lower levels, where streaming those weights
// is most of the time). Each layer holds the `Parameter`s of its diffusers module path, so merged
// LoRAs are seen, and applies each image's unmerged adapters listed for its path.

/// A diffusers component folder (`unet/`, `vae/`, a ControlNet): `config.json` with a `_class_name`
/// and `diffusion_pytorch_model.safetensors` (or its sharded index).
struct DiffusersComponent {
    let directory: URL
    let config: ConfigReader
    let parameters: ParameterStore

    init(directory: URL, classes: [String]) throws(ModelLoadingError) {
        let url = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw .missingConfig(path: url.path) }
        guard let data = try? Data(contentsOf: url), let object = try? JSONSerialization.jsonObject(with: data),
              let json = object as? [String: Any] else {
            throw .malformedConfig(path: url.path, detail: "not a JSON object")
        }
        config = ConfigReader(json: json, path: url.path)
        guard let name = try config.string("_class_name") else { throw .malformedConfig(path: url.path, detail: "missing '_class_name'") }
        guard classes.contains(name) else { throw .unsupportedClass(name: name, path: url.path, supported: classes) }
        self.directory = directory
        parameters = ParameterStore(source: try WeightStore(directory: directory, fileStem: "diffusion_pytorch_model"))
    }

    var configPath: String { config.path }

    /// Fails unless `key` is absent, null or equal to `expected` (diffusers' default, the only
    /// behaviour implemented), so no setting is silently ignored.
    func require(_ key: String, equals expected: Any?) throws(ModelLoadingError) {
        guard let value = config.json[key], !(value is NSNull) else { return }
        let matches = switch expected {
        case let text as String: (value as? String) == text
        case let flag as Bool: (value as? Bool) == flag
        case let number as Int: (value as? NSNumber)?.doubleValue == Double(number)
        default: false
        }
        if matches { return }
        throw .unsupportedConfiguration(path: configPath, detail: "'\(key)' = \(value) is not supported (only \(expected.map { "\($0)" } ?? "null"))")
    }

    /// An integer or a per-block list of `count` integers.
    func perBlock(_ key: String, count: Int, default fallback: Int? = nil) throws(ModelLoadingError) -> [Int] {
        let list = try config.intList(key)
        if list.isEmpty {
            guard let fallback else { throw .malformedConfig(path: configPath, detail: "missing '\(key)'") }
            return Array(repeating: fallback, count: count)
        }
        if config.json[key] is [Any] {
            guard list.count == count else {
                throw .malformedConfig(path: configPath, detail: "'\(key)' has \(list.count) entries for \(count) blocks")
            }
            return list
        }
        return Array(repeating: list[0], count: count)
    }

    func strings(_ key: String) throws(ModelLoadingError) -> [String] {
        guard let list = config.json[key] as? [Any], let strings = list as? [String] else {
            throw .malformedConfig(path: configPath, detail: "'\(key)' must be a list of strings")
        }
        return strings
    }

    func ints(_ key: String) throws(ModelLoadingError) -> [Int] {
        let list = try config.intList(key)
        guard !list.isEmpty, list.allSatisfy({ $0 > 0 }) else { throw .malformedConfig(path: configPath, detail: "'\(key)' must be a list of positive integers") }
        return list
    }
}

/// The unmerged adapters of each image of a batched call, or one set shared by every image.
struct BatchAdapters {
    let perImage: [LowRankAdapters]

    init(_ shared: LowRankAdapters = LowRankAdapters()) { perImage = [shared] }

    init(perImage: [LowRankAdapters]) {
        self.perImage = perImage.allSatisfy(\.isEmpty) ? [LowRankAdapters()] : perImage
    }

    /// Rows 0 ..< total split evenly over `images` images.
    static func evenRows(_ total: Int, images: Int) -> [Range<Int>] {
        (0 ..< images).map { i in total / images * i ..< total / images * (i + 1) }
    }

    /// `path`'s adapters for each image's rows (`rows`), skipping images with none.
    func uses(_ path: String, rows: [Range<Int>]) -> [(rows: Range<Int>, adapters: [LowRankAdapter])] {
        precondition(perImage.count == 1 || perImage.count == rows.count, "\(perImage.count) images' adapters for \(rows.count) images")
        return rows.enumerated().compactMap { i, range in
            let list = perImage[perImage.count == 1 ? 0 : i][path]
            return list.isEmpty ? nil : (range, list)
        }
    }
}

/// A linear layer (or a 1×1 convolution used as one on the pixels) that reads its float32
/// `Parameter`s, so merged LoRAs are seen, and applies the unmerged adapters listed for its path.
/// The product runs on the weight packed once (`Kernels.packedProduct`), every row of the batch in
/// one call: a row's result does not depend on the others, so each image equals itself alone.
struct AdaptedLinear {
    let path: String
    let weight: Parameter
    let bias: Parameter?
    private let packed = PackedWeightCache<PackedWeights>()

    init(_ store: ParameterStore, _ path: String, in inputs: Int, out outputs: Int, bias hasBias: Bool = true,
         convolution: Bool = false) throws(ModelLoadingError) {
        self.path = path
        weight = try store.load(path + ".weight", shape: convolution ? [outputs, inputs, 1, 1] : [outputs, inputs])
        bias = hasBias ? try store.load(path + ".bias", shape: [outputs]) : nil
    }

    var outputs: Int { weight.shape[0] }

    /// x · Wᵀ + b, plus each image's adapters listed for this path, on each image's rows (`rows`;
    /// by default all of x is one image's).
    func callAsFunction(_ x: Matrix, _ adapters: BatchAdapters, rows: [Range<Int>]? = nil) -> Matrix {
        OpProfile.measure(.linear) { apply(x, adapters, rows: rows ?? [0 ..< x.rows]) }
    }

    private func apply(_ x: Matrix, _ adapters: BatchAdapters, rows: [Range<Int>]) -> Matrix {
        let y = Matrix(rows: x.rows, cols: outputs)
        Kernels.packedProduct(x.data, count: x.rows, weights: packed.packed(weight), bias: bias.map { UnsafePointer($0.data) }, into: y.data)
        for use in adapters.uses(path, rows: rows) {
            for adapter in use.adapters {
                let low = Matrix(rows: use.rows.count, cols: adapter.rank)
                adapter.down.multiply(x.row(use.rows.lowerBound), count: use.rows.count, into: low.data)
                ImageKernels.scale(low, by: adapter.scale)
                adapter.up.multiply(low.data, count: use.rows.count, into: y.row(use.rows.lowerBound), accumulate: true)
            }
        }
        return y
    }

    func callAsFunction(_ x: FeatureMap, _ adapters: BatchAdapters) -> FeatureMap {
        FeatureMap(height: x.height, width: x.width, pixels: self(x.pixels, adapters, rows: x.imageRows), images: x.images)
    }
}

/// A k×k convolution (k > 1): padding (top, left, bottom, right). 3×3 stride-1 convolutions on
/// maps large enough run as Winograd F(4×4, 3×3) (`ImageKernels.prefersWinograd`), the others as
/// im2col + the packed GEMM (`ImageKernels.conv2d`). Unmerged LoCon adapters listed for its path add scale · up(down(x)) to their
/// images: down a k×k convolution to `rank` channels with the layer's stride and padding, up a 1×1 one.
struct Conv2d {
    let path: String
    let weight: Parameter
    let bias: Parameter
    let kernel: Int
    let stride: Int
    let padding: (top: Int, left: Int, bottom: Int, right: Int)
    private let winograd = PackedWeightCache { WinogradWeights(weight: $0.data, outChannels: $0.shape[0], inChannels: $0.shape[1]) }
    private let im2col = PackedWeightCache<PackedWeights>()

    init(_ store: ParameterStore, _ path: String, in inputs: Int, out outputs: Int, kernel: Int = 3, stride: Int = 1,
         padding: (top: Int, left: Int, bottom: Int, right: Int)? = nil) throws(ModelLoadingError) {
        self.path = path
        weight = try store.load(path + ".weight", shape: [outputs, inputs, kernel, kernel])
        bias = try store.load(path + ".bias", shape: [outputs])
        self.kernel = kernel
        self.stride = stride
        let p = kernel / 2
        self.padding = padding ?? (p, p, p, p)
    }

    func callAsFunction(_ x: FeatureMap, _ adapters: BatchAdapters = BatchAdapters()) -> FeatureMap {
        let y = convolve(x)
        for use in adapters.uses(path, rows: (0 ..< x.images).map { $0 ..< $0 + 1 }) {
            let images = use.rows.count == x.images ? x : FeatureMap.stacking(use.rows.map { x.image($0) })
            for adapter in use.adapters {
                let low = OpProfile.measure(.convolutionIm2col) {
                    ImageKernels.conv2d(images, weights: adapter.packedDown, bias: nil, kernel: kernel, stride: stride, padding: padding)
                }
                OpProfile.measure(.linear) {
                    ImageKernels.scale(low.pixels, by: adapter.scale)
                    adapter.up.multiply(low.pixels.data, count: low.pixels.rows, into: y.imagePixels(use.rows.lowerBound), accumulate: true)
                }
            }
        }
        return y
    }

    private func convolve(_ x: FeatureMap) -> FeatureMap {
        if ImageKernels.prefersWinograd(height: x.height, width: x.width, inChannels: x.channels, kernel: kernel, stride: stride, padding: padding) {
            return OpProfile.measure(.convolution3x3Winograd) {
                ImageKernels.winogradConv3x3(x, weights: winograd.packed(weight), bias: bias.data)
            }
        }
        return OpProfile.measure(.convolutionIm2col) {
            ImageKernels.conv2d(x, weights: im2col.packed(weight), bias: bias.data, kernel: kernel, stride: stride, padding: padding)
        }
    }
}

/// A weight's packed form (a linear weight's GEMM panels, a 3×3 weight's Winograd transform), made
/// on its first use (only layers that run pay its memory: 4× the weight for Winograd) and remade
/// when the weight's `version` moves (a LoRA merged into it or restored).
final class PackedWeightCache<Packed>: @unchecked Sendable {
    private let lock = NSLock()
    private let make: (Parameter) -> Packed
    private var cached: (version: Int, packed: Packed)?

    init(_ make: @escaping (Parameter) -> Packed) { self.make = make }

    func packed(_ parameter: Parameter) -> Packed {
        lock.lock()
        defer { lock.unlock() }
        if let cached, cached.version == parameter.version { return cached.packed }
        let packed = make(parameter)
        cached = (parameter.version, packed)
        return packed
    }
}

extension PackedWeightCache where Packed == PackedWeights {
    /// A weight [out, in, …] packed as an out × (in·…) matrix for `Kernels.packedProduct` / `ImageKernels.conv2d`.
    convenience init() {
        self.init { PackedWeights(weight: $0.data, outputs: $0.shape[0], inputs: $0.count / $0.shape[0]) }
    }
}

struct GroupNorm {
    let weight: Parameter
    let bias: Parameter
    let groups: Int
    let eps: Float

    init(_ store: ParameterStore, _ path: String, channels: Int, groups: Int, eps: Float) throws(ModelLoadingError) {
        guard channels % groups == 0 else {
            throw .unsupportedConfiguration(path: path, detail: "\(channels) channels do not split into \(groups) groups")
        }
        weight = try store.load(path + ".weight", shape: [channels])
        bias = try store.load(path + ".bias", shape: [channels])
        self.groups = groups
        self.eps = eps
    }

    func callAsFunction(_ x: FeatureMap, silu: Bool = false) -> FeatureMap {
        let out = FeatureMap(height: x.height, width: x.width, channels: x.channels, images: x.images)
        OpProfile.measure(.normalization) {
            ImageKernels.groupNorm(x, groups: groups, weight: weight.data, bias: bias.data, eps: eps, silu: silu, into: out)
        }
        return out
    }
}

struct LayerNorm {
    let weight: Parameter
    let bias: Parameter
    let eps: Float

    init(_ store: ParameterStore, _ path: String, dim: Int, eps: Float = 1e-5) throws(ModelLoadingError) {
        weight = try store.load(path + ".weight", shape: [dim])
        bias = try store.load(path + ".bias", shape: [dim])
        self.eps = eps
    }

    func callAsFunction(_ x: Matrix) -> Matrix {
        let out = Matrix(rows: x.rows, cols: x.cols)
        OpProfile.measure(.normalization) {
            Kernels.layerNorm(x, weight: weight.values(), bias: bias.values(), eps: eps, into: out)
        }
        return out
    }
}

/// diffusers `TimestepEmbedding`: linear_1, SiLU, linear_2.
struct TimestepEmbedding {
    let linear1: AdaptedLinear
    let linear2: AdaptedLinear

    init(_ store: ParameterStore, _ path: String, in inputs: Int, dim: Int) throws(ModelLoadingError) {
        linear1 = try AdaptedLinear(store, path + ".linear_1", in: inputs, out: dim)
        linear2 = try AdaptedLinear(store, path + ".linear_2", in: dim, out: dim)
    }

    /// `x`: one row per image.
    func callAsFunction(_ x: Matrix, _ adapters: BatchAdapters) -> Matrix {
        let rows = BatchAdapters.evenRows(x.rows, images: x.rows)
        let h = linear1(x, adapters, rows: rows)
        ImageKernels.silu(h)
        return linear2(h, adapters, rows: rows)
    }
}

/// diffusers `ResnetBlock2D` (time_embedding_norm "default", output_scale_factor 1):
/// norm1, SiLU, conv1, + time_emb_proj(SiLU(temb)), norm2, SiLU, conv2, + shortcut (1×1 when the
/// channel count changes).
struct ResnetBlock2D {
    let norm1: GroupNorm
    let conv1: Conv2d
    let timeProjection: AdaptedLinear?
    let norm2: GroupNorm
    let conv2: Conv2d
    let shortcut: AdaptedLinear?

    init(_ store: ParameterStore, _ path: String, in inputs: Int, out outputs: Int, timeChannels: Int?, groups: Int,
         eps: Float) throws(ModelLoadingError) {
        norm1 = try GroupNorm(store, path + ".norm1", channels: inputs, groups: groups, eps: eps)
        conv1 = try Conv2d(store, path + ".conv1", in: inputs, out: outputs)
        timeProjection = try timeChannels.map { c throws(ModelLoadingError) in try AdaptedLinear(store, path + ".time_emb_proj", in: c, out: outputs) }
        norm2 = try GroupNorm(store, path + ".norm2", channels: outputs, groups: groups, eps: eps)
        conv2 = try Conv2d(store, path + ".conv2", in: outputs, out: outputs)
        shortcut = inputs == outputs ? nil : try AdaptedLinear(store, path + ".conv_shortcut", in: inputs, out: outputs, convolution: true)
    }

    /// `activatedTime` is SiLU(temb), one row per image × timeChannels (nil in the VAE).
    func callAsFunction(_ x: FeatureMap, activatedTime: Matrix?, _ adapters: BatchAdapters) -> FeatureMap {
        var h = conv1(norm1(x, silu: true), adapters)
        if let timeProjection, let activatedTime {
            ImageKernels.addImageVectors(h, timeProjection(activatedTime, adapters, rows: BatchAdapters.evenRows(h.images, images: h.images)))
        }
        h = conv2(norm2(h, silu: true), adapters)
        let residual = shortcut.map { $0(x, adapters) } ?? x
        Kernels.add(h.pixels, residual.pixels)
        return h
    }
}

/// Each image's cross-attention context (encoder hidden states), stacked: one projection for all.
struct BatchContext {
    let states: Matrix
    /// Image i's rows of `states`.
    let rows: [Range<Int>]

    init(_ contexts: [Matrix]) {
        var rows: [Range<Int>] = []
        for context in contexts { rows.append((rows.last?.upperBound ?? 0) ..< (rows.last?.upperBound ?? 0) + context.rows) }
        self.rows = rows
        guard contexts.count > 1, let width = contexts.first?.cols else {
            states = contexts[0]
            return
        }
        precondition(contexts.allSatisfy { $0.cols == width }, "contexts differ in width")
        states = Matrix(rows: rows.last!.upperBound, cols: width)
        for (context, range) in zip(contexts, rows) { states.row(range.lowerBound).update(from: context.data, count: context.count) }
    }
}

/// diffusers `Attention` with the default processor: to_q, to_k, to_v, scaled dot product over
/// `heads` heads, to_out.0, per image. Keys and values come from the image's `context`
/// (cross-attention) or its own rows.
struct MultiHeadAttention {
    let query: AdaptedLinear
    let key: AdaptedLinear
    let value: AdaptedLinear
    let output: AdaptedLinear
    let heads: Int

    init(_ store: ParameterStore, _ path: String, dim: Int, contextDim: Int, heads: Int, headDim: Int, qkvBias: Bool) throws(ModelLoadingError) {
        let inner = heads * headDim
        query = try AdaptedLinear(store, path + ".to_q", in: dim, out: inner, bias: qkvBias)
        key = try AdaptedLinear(store, path + ".to_k", in: contextDim, out: inner, bias: qkvBias)
        value = try AdaptedLinear(store, path + ".to_v", in: contextDim, out: inner, bias: qkvBias)
        output = try AdaptedLinear(store, path + ".to_out.0", in: inner, out: dim)
        self.heads = heads
    }

    /// `x`: `images` images' tokens, one after another.
    func callAsFunction(_ x: Matrix, images: Int, context: BatchContext?, _ adapters: BatchAdapters) -> Matrix {
        let queryRows = BatchAdapters.evenRows(x.rows, images: images)
        let (source, keyRows) = context.map { ($0.states, $0.rows) } ?? (x, queryRows)
        let (q, k, v) = (query(x, adapters, rows: queryRows), key(source, adapters, rows: keyRows), value(source, adapters, rows: keyRows))
        let attended = Matrix(rows: x.rows, cols: q.cols)
        let shape = AttentionShape(numHeads: heads, numKVHeads: heads, headDim: q.cols / heads)
        OpProfile.measure(.attention) {
            for (queries, keys) in zip(queryRows, keyRows) {
                Attention.bidirectional(queries: .init(base: q.row(queries.lowerBound), rowStride: q.cols), queryCount: queries.count,
                                        keys: .init(base: k.row(keys.lowerBound), rowStride: k.cols),
                                        values: .init(base: v.row(keys.lowerBound), rowStride: v.cols),
                                        keyCount: keys.count, shape: shape, output: attended.row(queries.lowerBound), outputStride: attended.cols)
            }
        }
        return output(attended, adapters, rows: queryRows)
    }
}

/// diffusers `BasicTransformerBlock` as SD uses it: self-attention, cross-attention, GEGLU
/// feed-forward, each pre-LayerNorm with a residual.
struct BasicTransformerBlock {
    let path: String
    let norm1: LayerNorm
    let selfAttention: MultiHeadAttention
    let norm2: LayerNorm
    let crossAttention: MultiHeadAttention
    let norm3: LayerNorm
    let feedForwardIn: AdaptedLinear
    let feedForwardOut: AdaptedLinear

    init(_ store: ParameterStore, _ path: String, dim: Int, heads: Int, headDim: Int, crossDim: Int) throws(ModelLoadingError) {
        self.path = path
        norm1 = try LayerNorm(store, path + ".norm1", dim: dim)
        selfAttention = try MultiHeadAttention(store, path + ".attn1", dim: dim, contextDim: dim, heads: heads, headDim: headDim, qkvBias: false)
        norm2 = try LayerNorm(store, path + ".norm2", dim: dim)
        crossAttention = try MultiHeadAttention(store, path + ".attn2", dim: dim, contextDim: crossDim, heads: heads, headDim: headDim, qkvBias: false)
        norm3 = try LayerNorm(store, path + ".norm3", dim: dim)
        feedForwardIn = try AdaptedLinear(store, path + ".ff.net.0.proj", in: dim, out: 8 * dim)
        feedForwardOut = try AdaptedLinear(store, path + ".ff.net.2", in: 4 * dim, out: dim)
    }

    func callAsFunction(_ x: Matrix, images: Int, context: BatchContext, _ adapters: BatchAdapters) -> Matrix {
        Kernels.add(x, selfAttention(norm1(x), images: images, context: nil, adapters))
        Kernels.add(x, crossAttention(norm2(x), images: images, context: context, adapters))
        let rows = BatchAdapters.evenRows(x.rows, images: images)
        Kernels.add(x, feedForwardOut(ImageKernels.geglu(feedForwardIn(norm3(x), adapters, rows: rows)), adapters, rows: rows))
        return x
    }
}

/// diffusers `Transformer2DModel` (continuous input): GroupNorm, proj_in (1×1 conv, or linear
/// with `use_linear_projection`), transformer blocks over the pixels as tokens, proj_out, + input.
struct SpatialTransformer {
    let norm: GroupNorm
    let projectIn: AdaptedLinear
    let blocks: [BasicTransformerBlock]
    let projectOut: AdaptedLinear

    init(_ store: ParameterStore, _ path: String, channels: Int, heads: Int, layers: Int, crossDim: Int, groups: Int,
         linearProjection: Bool) throws(ModelLoadingError) {
        guard channels % heads == 0 else {
            throw .unsupportedConfiguration(path: path, detail: "\(channels) channels do not split into \(heads) attention heads")
        }
        norm = try GroupNorm(store, path + ".norm", channels: channels, groups: groups, eps: 1e-6)
        projectIn = try AdaptedLinear(store, path + ".proj_in", in: channels, out: channels, convolution: !linearProjection)
        blocks = try (0 ..< layers).map { i throws(ModelLoadingError) in
            try BasicTransformerBlock(store, path + ".transformer_blocks.\(i)", dim: channels, heads: heads, headDim: channels / heads, crossDim: crossDim)
        }
        projectOut = try AdaptedLinear(store, path + ".proj_out", in: channels, out: channels, convolution: !linearProjection)
    }

    func callAsFunction(_ x: FeatureMap, context: BatchContext, _ adapters: BatchAdapters) -> FeatureMap {
        var tokens = projectIn(norm(x).pixels, adapters, rows: x.imageRows)
        for block in blocks { tokens = block(tokens, images: x.images, context: context, adapters) }
        let out = projectOut(tokens, adapters, rows: x.imageRows)
        Kernels.add(out, x.pixels)
        return FeatureMap(height: x.height, width: x.width, pixels: out, images: x.images)
    }
}

/// diffusers `Downsample2D` with a convolution: stride 2, padding 1 (UNet) or the VAE encoder's
/// padding 0 after a (0, 1, 0, 1) zero pad.
struct Downsample {
    let conv: Conv2d

    init(_ store: ParameterStore, _ path: String, channels: Int, asymmetricPadding: Bool) throws(ModelLoadingError) {
        conv = try Conv2d(store, path + ".conv", in: channels, out: channels, stride: 2,
                          padding: asymmetricPadding ? (0, 0, 1, 1) : (1, 1, 1, 1))
    }

    func callAsFunction(_ x: FeatureMap, _ adapters: BatchAdapters = BatchAdapters()) -> FeatureMap { conv(x, adapters) }
}

/// diffusers `Upsample2D`: nearest 2× then a 3×3 convolution.
struct Upsample {
    let conv: Conv2d

    init(_ store: ParameterStore, _ path: String, channels: Int) throws(ModelLoadingError) {
        conv = try Conv2d(store, path + ".conv", in: channels, out: channels)
    }

    func callAsFunction(_ x: FeatureMap, _ adapters: BatchAdapters = BatchAdapters()) -> FeatureMap {
        conv(ImageKernels.upsampleNearest2x(x), adapters)
    }
}

extension FeatureMap {
    /// Each image's pixel rows.
    var imageRows: [Range<Int>] { BatchAdapters.evenRows(pixels.rows, images: images) }
}
