import CKernels

/// A 3×3 convolution weight [out, in, 3, 3] in the Winograd F(4×4, 3×3) domain: 36 matrices
/// in × out, one per position of the 6×6 transformed tile (Lavin & Gray 2016). Made once per
/// weight (4× its size) and read by every `ImageKernels.winogradConv3x3` call.
///
/// ```swift
/// let transformed = WinogradWeights(weight: w, outChannels: 320, inChannels: 320)
/// let y = ImageKernels.winogradConv3x3(x, weights: transformed, bias: b)
/// ```
public final class WinogradWeights: @unchecked Sendable {
    public let outChannels: Int
    public let inChannels: Int
    let data: UnsafeMutablePointer<Float>

    public init(weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int) {
        self.outChannels = outChannels
        self.inChannels = inChannels
        data = .allocate(capacity: ck_winograd_weights_count(outChannels, inChannels))
        ck_winograd_weights(weight, outChannels, inChannels, data)
    }

    deinit { data.deallocate() }
}

extension ImageKernels {
    /// Whether `winogradConv3x3` serves this convolution, and is the faster path: 3×3, stride 1,
    /// one pixel of zero padding all round, at least 16 input channels and at least 16 output tiles
    /// of 4×4. Measured at 1
    /// thread against im2col + sgemm (docs/benchmarks.md, diffusion section): 2.3–4× faster on every
    /// SD 1.5 UNet and VAE shape from 16×16 up (1280 channels at 16×16 included), slower at 8×8
    /// (4 tiles: the 36 GEMMs have 4 rows and stream 36·in·out weights for them), and slower with
    /// 4 or 8 input channels (the latent conv_in: 0.5–0.7×, the transforms outweigh 36 GEMMs with
    /// k = 4), 2.6× faster with 16 (a ControlNet's conditioning embedding at 512×512).
    /// `winogradAllowed` false (process-wide) sends every convolution to im2col, for comparing the two
    /// in one process (`tessera bench diffusion --convolution im2col`).
    public static func prefersWinograd(height: Int, width: Int, inChannels: Int, kernel: Int, stride: Int,
                                       padding: (top: Int, left: Int, bottom: Int, right: Int)) -> Bool {
        winogradAllowed && kernel == 3 && stride == 1 && padding == (1, 1, 1, 1) && inChannels >= 16
            && ((height + 3) / 4) * ((width + 3) / 4) >= 16
    }

    nonisolated(unsafe) public static var winogradAllowed = true

    /// Tiles per GEMM block: bounds the transformed input and product scratch (36 × tiles × channels
    /// floats each) and is the position GEMMs' M dimension.
    static let winogradTileBlock = 128

    /// A 3×3 stride-1 convolution with one pixel of zero padding (PyTorch's `padding=1`), as
    /// Winograd F(4×4, 3×3): blocks of 4×4 output tiles (of every image of `x`: a batch's images
    /// share the products) are transformed (C), multiplied per position by the transformed weight
    /// (`ck_winograd_products`), and transformed back with the bias added (C). Blocks and
    /// output-channel bands spread over the pool. Agrees with the direct convolution to float32
    /// rounding (about 1e-5 of the output's scale; WinogradTests).
    public static func winogradConv3x3(_ x: FeatureMap, weights: WinogradWeights, bias: UnsafePointer<Float>?) -> FeatureMap {
        precondition(x.channels == weights.inChannels, "conv input has \(x.channels) channels, weight \(weights.inChannels)")
        let (inC, outC) = (weights.inChannels, weights.outChannels)
        let out = FeatureMap(height: x.height, width: x.width, channels: outC, images: x.images)
        let tilesX = (x.width + 3) / 4
        let tiles = x.images * tilesX * ((x.height + 3) / 4)
        let (input, output, u) = (x.pixels.data, out.pixels.data, weights.data)
        Parallel.forEachBlockAndBand(total: tiles, blockSize: winogradTileBlock, channels: outC) { first, count, begin, end in
            ScratchBuffers.with(count: 36 * count * (inC + outC)) { scratch in
                let (v, m) = (scratch, scratch + 36 * count * inC)
                ck_winograd_input(input, x.height, x.width, inC, tilesX, first, count, v)
                ck_winograd_products(v, count, inC, u, outC, begin, end, m, outC)
                ck_winograd_output(m, outC, count, first, tilesX, x.height, x.width, begin, end, bias, output, outC)
            }
        }
        return out
    }
}
