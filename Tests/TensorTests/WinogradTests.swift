import Testing
@testable import Tensor

/// Winograd F(4×4, 3×3) against a direct convolution in double on random data, on both kernel
/// paths. Serialized because the kernel path is a process-wide switch.
@Suite(.serialized)
struct WinogradTests {
    /// Sizes that are not multiples of the 4×4 tile, channel counts that are not multiples of 16,
    /// a map with more tile blocks than one, and one small enough to split output channels.
    static let shapes: [(height: Int, width: Int, inputs: Int, outputs: Int)] = [
        (13, 11, 20, 24), (16, 16, 16, 16), (48, 44, 32, 48), (17, 23, 5, 3), (16, 20, 64, 160),
    ]

    /// Inputs in [−1, 1] and weights scaled by 1/√(9·in) keep the outputs of order 1, so the
    /// bound is float32 rounding through the transforms: 5e-5 absolute (F(4×4, 3×3)'s transform
    /// constants up to 8 and 1/24 cost about 10 ulps of an order-1 output).
    @Test func matchesDirectConvolution() {
        for (index, shape) in Self.shapes.enumerated() {
            let x = randomFloats(shape.height * shape.width * shape.inputs, seed: 10 + UInt64(index))
            let w = randomFloats(shape.outputs * shape.inputs * 9, seed: 20 + UInt64(index),
                                 scale: 1 / Float(9 * shape.inputs).squareRoot())
            let b = randomFloats(shape.outputs, seed: 30 + UInt64(index))
            let expected = directConvolution(x, w, b, shape)
            let map = FeatureMap(height: shape.height, width: shape.width, pixels: Matrix(rows: shape.height * shape.width, cols: shape.inputs, values: x))
            withEachKernelPath { path in
                let transformed = WinogradWeights(weight: w, outChannels: shape.outputs, inChannels: shape.inputs)
                let y = b.withUnsafeBufferPointer { ImageKernels.winogradConv3x3(map, weights: transformed, bias: $0.baseAddress) }
                #expect(maxAbsDifference(y.pixels.toArray(), expected) < 5e-5, "\(shape) \(path)")
                let packed = PackedWeights(weight: w, outputs: shape.outputs, inputs: shape.inputs * 9)
                let im2col = b.withUnsafeBufferPointer { ImageKernels.conv2d(map, weights: packed, bias: $0.baseAddress, kernel: 3, padding: (1, 1, 1, 1)) }
                #expect(maxAbsDifference(im2col.pixels.toArray(), expected) < 5e-5, "im2col \(shape) \(path)")
            }
        }
    }

    /// A batch of images (tile blocks and im2col tiles that span images) gives each image the
    /// same bits as convolving it alone, on both paths.
    @Test func imagesOfABatchEqualTheirConvolutionAlone() {
        let (height, width, inputs, outputs) = (9, 13, 24, 40)
        let w = randomFloats(outputs * inputs * 9, seed: 51, scale: 1 / Float(9 * inputs).squareRoot())
        let b = randomFloats(outputs, seed: 52)
        let maps = (0 ..< 3).map { i in
            FeatureMap(height: height, width: width,
                       pixels: Matrix(rows: height * width, cols: inputs, values: randomFloats(height * width * inputs, seed: 53 + UInt64(i))))
        }
        let batch = FeatureMap.stacking(maps)
        #expect(batch.images == 3)
        withEachKernelPath { path in
            let transformed = WinogradWeights(weight: w, outChannels: outputs, inChannels: inputs)
            let winograd = { (x: FeatureMap) in b.withUnsafeBufferPointer { ImageKernels.winogradConv3x3(x, weights: transformed, bias: $0.baseAddress) } }
            let packed = PackedWeights(weight: w, outputs: outputs, inputs: inputs * 9)
            let im2col = { (x: FeatureMap) in b.withUnsafeBufferPointer { ImageKernels.conv2d(x, weights: packed, bias: $0.baseAddress, kernel: 3, padding: (1, 1, 1, 1)) } }
            let strided = { (x: FeatureMap) in
                b.withUnsafeBufferPointer { ImageKernels.conv2d(x, weights: packed, bias: $0.baseAddress, kernel: 3, stride: 2, padding: (1, 1, 1, 1)) }
            }
            for (name, conv) in [("winograd", winograd), ("im2col", im2col), ("stride 2", strided)] {
                let together = conv(batch)
                #expect(together.images == 3, "\(name) \(path)")
                for (i, map) in maps.enumerated() {
                    #expect(together.image(i).pixels.toArray() == conv(map).pixels.toArray(), "\(name) image \(i) \(path)")
                }
            }
        }
    }

    @Test func servesOnlyPaddedStrideOneThreeByThreeOnLargeEnoughMapsWithSixteenChannels() {
        let same = (top: 1, left: 1, bottom: 1, right: 1)
        #expect(ImageKernels.prefersWinograd(height: 16, width: 16, inChannels: 16, kernel: 3, stride: 1, padding: same))
        #expect(ImageKernels.prefersWinograd(height: 13, width: 13, inChannels: 16, kernel: 3, stride: 1, padding: same))
        #expect(!ImageKernels.prefersWinograd(height: 8, width: 8, inChannels: 16, kernel: 3, stride: 1, padding: same))
        #expect(!ImageKernels.prefersWinograd(height: 64, width: 64, inChannels: 16, kernel: 3, stride: 2, padding: same))
        #expect(!ImageKernels.prefersWinograd(height: 64, width: 64, inChannels: 16, kernel: 3, stride: 1, padding: (0, 0, 1, 1)))
        #expect(!ImageKernels.prefersWinograd(height: 64, width: 64, inChannels: 16, kernel: 1, stride: 1, padding: (0, 0, 0, 0)))
        #expect(!ImageKernels.prefersWinograd(height: 64, width: 64, inChannels: 8, kernel: 3, stride: 1, padding: same))
    }

    private func directConvolution(_ x: [Float], _ w: [Float], _ b: [Float],
                                   _ shape: (height: Int, width: Int, inputs: Int, outputs: Int)) -> [Float] {
        var y = [Float](repeating: 0, count: shape.height * shape.width * shape.outputs)
        for oy in 0 ..< shape.height {
            for ox in 0 ..< shape.width {
                for o in 0 ..< shape.outputs {
                    var sum = Double(b[o])
                    for ky in 0 ..< 3 {
                        let iy = oy + ky - 1
                        guard iy >= 0, iy < shape.height else { continue }
                        for kx in 0 ..< 3 {
                            let ix = ox + kx - 1
                            guard ix >= 0, ix < shape.width else { continue }
                            for i in 0 ..< shape.inputs {
                                sum += Double(x[(iy * shape.width + ix) * shape.inputs + i]) * Double(w[((o * shape.inputs + i) * 3 + ky) * 3 + kx])
                            }
                        }
                    }
                    y[(oy * shape.width + ox) * shape.outputs + o] = Float(sum)
                }
            }
        }
        return y
    }
}
