import CKernels
import Foundation

/// Operations of convolutional diffusion models (UNets, VAEs, ControlNets) on channels-last
/// feature maps, parallel on the compute pool.
public enum ImageKernels {
    /// Output pixels per im2col tile: bounds the gathered matrix (tile × in·k² floats) and is the
    /// GEMM's M dimension.
    static let convolutionTile = 128

    /// A 2-D convolution, PyTorch semantics: `weights` is the [out, in, k, k] weight packed as an
    /// out × (in·k·k) matrix, `bias` [out] or nil; `padding` is (top, left, bottom, right) zero
    /// padding.
    ///
    /// Tiles of output pixels (of every image of `x`: a tile may span images) are gathered (im2col;
    /// a 1×1 stride-1 convolution reads the pixels in place) and multiplied by the packed weight with
    /// the bias fused (`ck_gemm_packed`), tiles and output-channel bands spread over the pool (each
    /// task gathers its own tile into a scratch buffer). A batch's images share each pass over the
    /// weight, and each image still comes out bit for bit as alone.
    public static func conv2d(_ x: FeatureMap, weights: PackedWeights, bias: UnsafePointer<Float>?, kernel: Int, stride: Int = 1,
                              padding: (top: Int, left: Int, bottom: Int, right: Int)) -> FeatureMap {
        let depth = x.channels * kernel * kernel
        precondition(weights.inputs == depth, "conv input has \(x.channels) channels × \(kernel)², weight \(weights.inputs) inputs")
        let outChannels = weights.outputs
        let outHeight = (x.height + padding.top + padding.bottom - kernel) / stride + 1
        let outWidth = (x.width + padding.left + padding.right - kernel) / stride + 1
        let out = FeatureMap(height: outHeight, width: outWidth, channels: outChannels, images: x.images)
        let pixels = outHeight * outWidth
        let direct = kernel == 1 && stride == 1 && padding == (0, 0, 0, 0)
        let (input, output, w) = (x.pixels.data, out.pixels.data, UnsafePointer(weights.data))
        Parallel.forEachBlockAndBand(total: x.images * pixels, blockSize: convolutionTile, channels: outChannels) { first, count, begin, end in
            let multiply = { (columns: UnsafePointer<Float>) in
                ck_gemm_packed(columns, count, depth, depth, w, begin, end, bias, output + first * outChannels, outChannels, 0)
            }
            if direct {
                multiply(input + first * depth)
                return
            }
            ScratchBuffers.with(count: count * depth) { columns in
                var row = first
                while row < first + count {  // the tile's part in each image it spans
                    let (image, pixel) = row.quotientAndRemainder(dividingBy: pixels)
                    let n = min(first + count - row, pixels - pixel)
                    ck_im2col(x.imagePixels(image), x.height, x.width, x.channels, kernel, stride, padding.top, padding.left, outWidth, pixel, n,
                              columns + (row - first) * depth)
                    row += n
                }
                multiply(columns)
            }
        }
        return out
    }

    /// GroupNorm over `groups` groups of consecutive channels (statistics over all pixels of a
    /// group of one image, in double), times `weight` plus `bias` per channel, then SiLU when
    /// `silu`. Writes into `out`, which may be `x` itself.
    public static func groupNorm(_ x: FeatureMap, groups: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                 eps: Float, silu: Bool, into out: FeatureMap) {
        precondition(x.channels % groups == 0 && out.pixels.rows == x.pixels.rows && out.channels == x.channels, "groupNorm shape mismatch")
        for image in 0 ..< x.images {
            groupNorm(x.imagePixels(image), pixels: x.imagePixelCount, channels: x.channels, groups: groups, weight: weight, bias: bias,
                      eps: eps, silu: silu, into: out.imagePixels(image))
        }
    }

    private static func groupNorm(_ input: UnsafeMutablePointer<Float>, pixels: Int, channels: Int, groups: Int, weight: UnsafePointer<Float>,
                                  bias: UnsafePointer<Float>, eps: Float, silu: Bool, into output: UnsafeMutablePointer<Float>) {
        ComputeThreads.configureOnce()
        let chunks = max(1, min(ComputeThreads.count * 4, pixels / 64))
        var sums = [Double](repeating: 0, count: 2 * channels * chunks)
        sums.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let base = buffer.baseAddress!
            Parallel.forEach(chunks) { chunk in
                let (begin, end) = (pixels * chunk / chunks, pixels * (chunk + 1) / chunks)
                let own = base + 2 * channels * chunk
                ck_channel_sums(input + begin * channels, end - begin, channels, own, own + channels)
            }
        }
        let perGroup = channels / groups
        let count = Double(pixels * perGroup)
        var scale = [Float](repeating: 0, count: channels)
        var shift = [Float](repeating: 0, count: channels)
        for g in 0 ..< groups {
            var (sum, sumSq) = (0.0, 0.0)
            for chunk in 0 ..< chunks {
                for c in g * perGroup ..< (g + 1) * perGroup {
                    sum += sums[2 * channels * chunk + c]
                    sumSq += sums[2 * channels * chunk + channels + c]
                }
            }
            let mean = sum / count
            let variance = max(0, sumSq / count - mean * mean)
            let rstd = Float(1 / (variance + Double(eps)).squareRoot())
            for c in g * perGroup ..< (g + 1) * perGroup {
                scale[c] = rstd * weight[c]
                shift[c] = bias[c] - Float(mean) * scale[c]
            }
        }
        scale.withUnsafeBufferPointer { sp in
            shift.withUnsafeBufferPointer { hp in
                nonisolated(unsafe) let (s, h) = (sp.baseAddress!, hp.baseAddress!)
                Parallel.forEach(chunks) { chunk in
                    let (begin, end) = (pixels * chunk / chunks, pixels * (chunk + 1) / chunks)
                    ck_scale_shift(input + begin * channels, output + begin * channels, end - begin, channels, s, h, silu ? 1 : 0)
                }
            }
        }
    }

    /// In-place SiLU of every element.
    public static func silu(_ x: Matrix) {
        let chunks = max(1, min(2 * ComputeThreads.count, x.count / 65536))
        let data = x.data
        Parallel.forEach(chunks) { chunk in
            let (begin, end) = (x.count * chunk / chunks, x.count * (chunk + 1) / chunks)
            ck_silu(data + begin, end - begin)
        }
    }

    /// GEGLU: `x` is T × 2·inner (hidden then gate); returns T × inner of hidden · gelu(gate).
    public static func geglu(_ x: Matrix) -> Matrix {
        let inner = x.cols / 2
        let out = Matrix(rows: x.rows, cols: inner)
        let chunks = max(1, min(2 * ComputeThreads.count, x.rows / 16))
        let (input, output) = (x.data, out.data)
        Parallel.forEach(chunks) { chunk in
            let (begin, end) = (x.rows * chunk / chunks, x.rows * (chunk + 1) / chunks)
            ck_geglu(input + begin * 2 * inner, end - begin, inner, output + begin * inner)
        }
        return out
    }

    /// Nearest-neighbour 2× upsampling (F.interpolate(scale_factor=2, mode="nearest")).
    public static func upsampleNearest2x(_ x: FeatureMap) -> FeatureMap {
        let out = FeatureMap(height: 2 * x.height, width: 2 * x.width, channels: x.channels, images: x.images)
        let chunks = max(1, min(2 * ComputeThreads.count, x.height))
        for image in 0 ..< x.images {
            let (input, output) = (x.imagePixels(image), out.imagePixels(image))
            Parallel.forEach(chunks) { chunk in
                let (begin, end) = (x.height * chunk / chunks, x.height * (chunk + 1) / chunks)
                ck_upsample_nearest2x(input, x.height, x.width, x.channels, begin, end - begin, output)
            }
        }
        return out
    }

    /// diffusers' `get_timestep_embedding` in float32: frequencies exp(−ln(10000)·i/(half − shift)),
    /// sin then cos (cos then sin when `flipSinToCos`), for each of `timesteps`. Returns
    /// timesteps.count × dim.
    public static func timestepEmbedding(_ timesteps: [Float], dim: Int, flipSinToCos: Bool, downscaleFreqShift: Float) -> Matrix {
        let half = dim / 2
        let out = Matrix(rows: timesteps.count, cols: dim)
        let frequencies = (0 ..< half).map { i in
            // torch: exponent = -log(10000) * arange(half, dtype=float32); exponent / (half - shift); exp
            let exponent = -Float(log(10000.0)) * Float(i) / (Float(half) - downscaleFreqShift)
            return Foundation.exp(exponent)
        }
        for (row, t) in timesteps.enumerated() {
            for i in 0 ..< half {
                let angle = t * frequencies[i]
                let (sine, cosine) = (Foundation.sin(angle), Foundation.cos(angle))
                out[row, flipSinToCos ? half + i : i] = sine
                out[row, flipSinToCos ? i : half + i] = cosine
            }
        }
        return out
    }
}

extension ImageKernels {
    /// Adds row i of `v` (images × channels) to every pixel of image i of `x`.
    public static func addImageVectors(_ x: FeatureMap, _ v: Matrix) {
        precondition(v.rows == x.images && v.cols == x.channels, "one vector per image")
        for image in 0 ..< x.images { addRowVector(x.imagePixels(image), rows: x.imagePixelCount, cols: x.channels, v.row(image)) }
    }

    private static func addRowVector(_ data: UnsafeMutablePointer<Float>, rows: Int, cols: Int, _ v: UnsafePointer<Float>) {
        let chunks = max(1, min(2 * ComputeThreads.count, rows / 256))
        Parallel.forEach(chunks) { chunk in
            for r in rows * chunk / chunks ..< rows * (chunk + 1) / chunks { ck_add(data + r * cols, v, cols) }
        }
    }

    /// Adds the one-image map `r` to image `image` of `x` (same size and channels).
    public static func add(_ r: FeatureMap, toImage image: Int, of x: FeatureMap) {
        precondition(r.images == 1 && r.pixels.count == x.imagePixelCount * x.channels, "adding a map of another size")
        ck_add(x.imagePixels(image), r.pixels.data, r.pixels.count)
    }

    /// x *= a.
    public static func scale(_ x: Matrix, by a: Float) { ck_scale(x.data, a, x.count) }

    /// x += a · y.
    public static func addScaled(_ x: Matrix, _ y: Matrix, _ a: Float) {
        precondition(x.count == y.count, "addScaled shape mismatch")
        ck_axpy(x.data, a, y.data, x.count)
    }
}
