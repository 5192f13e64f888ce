import CKernels
import Testing
@testable import Tensor

/// The packed-weight GEMM (`Kernels.packedProduct`, `ck_gemm_packed`) against a product in double,
/// on every kernel path (AVX-512, AVX2, portable). Serialized because the path is set per thread
/// and the pool's jobs take the submitter's.
@Suite(.serialized)
struct PackedGemmTests {
    /// Row counts below, at and past the 12-row tile, the 4-row tail, the 192-row block and the
    /// 768-row pool task; inner sizes past the 512-wide chunk; column counts that are not multiples
    /// of 16 or 32.
    static let shapes: [(rows: Int, inputs: Int, outputs: Int)] = [
        (1, 7, 5), (5, 33, 17), (13, 64, 48), (77, 40, 20), (200, 530, 100), (801, 24, 40), (30, 1100, 33),
    ]

    static let levels = [2, 1, 0]

    private func withEachLevel(_ body: (Int) -> Void) {
        defer { ck_set_simd_level(2) }
        for level in Self.levels {
            ck_set_simd_level(Int32(level))
            body(level)
        }
    }

    /// Inputs in [−1, 1], weights scaled by 1/√in: outputs of order 1, float32 rounding of a sum of
    /// `in` products is well under 1e-5 relative (2e-5 absolute allows for 1100 of them).
    @Test func matchesAProductInDouble() {
        for (index, shape) in Self.shapes.enumerated() {
            let seed = 100 + UInt64(index) * 4
            let x = randomFloats(shape.rows * shape.inputs, seed: seed)
            let w = randomFloats(shape.outputs * shape.inputs, seed: seed + 1, scale: 1 / Float(shape.inputs).squareRoot())
            let b = randomFloats(shape.outputs, seed: seed + 2)
            let start = randomFloats(shape.rows * shape.outputs, seed: seed + 3)
            var product = [Double](repeating: 0, count: shape.rows * shape.outputs)
            for r in 0 ..< shape.rows {
                for o in 0 ..< shape.outputs {
                    var sum = 0.0
                    for i in 0 ..< shape.inputs { sum += Double(x[r * shape.inputs + i]) * Double(w[o * shape.inputs + i]) }
                    product[r * shape.outputs + o] = sum
                }
            }
            let withBias = product.enumerated().map { Float($1 + Double(b[$0 % shape.outputs])) }
            let accumulated = product.enumerated().map { Float($1 + Double(start[$0])) }
            let packed = PackedWeights(weight: w, outputs: shape.outputs, inputs: shape.inputs)
            withEachLevel { level in
                var y = [Float](repeating: .nan, count: shape.rows * shape.outputs)
                b.withUnsafeBufferPointer { bias in
                    Kernels.packedProduct(x, count: shape.rows, weights: packed, bias: bias.baseAddress, into: &y)
                }
                #expect(maxAbsDifference(y, withBias) < 2e-5, "\(shape) level \(level), bias")
                var z = start
                Kernels.packedProduct(x, count: shape.rows, weights: packed, bias: nil, into: &z, accumulate: true)
                #expect(maxAbsDifference(z, accumulated) < 2e-5, "\(shape) level \(level), accumulate")
            }
        }
    }

    /// Each row of a call gives the same bits as the row alone or in a call of another size, on
    /// every path: 1000 rows span several pool tasks, row blocks, tiles and tails.
    @Test func rowsEqualThemselvesAlone() {
        let (rows, inputs, outputs) = (1000, 600, 72)
        let x = randomFloats(rows * inputs, seed: 200)
        let w = randomFloats(outputs * inputs, seed: 201, scale: 1 / Float(inputs).squareRoot())
        let b = randomFloats(outputs, seed: 202)
        let packed = PackedWeights(weight: w, outputs: outputs, inputs: inputs)
        withEachLevel { level in
            let product = { (first: Int, count: Int) -> [Float] in
                var y = [Float](repeating: 0, count: count * outputs)
                x.withUnsafeBufferPointer { xs in
                    b.withUnsafeBufferPointer { Kernels.packedProduct(xs.baseAddress! + first * inputs, count: count, weights: packed, bias: $0.baseAddress, into: &y) }
                }
                return y
            }
            let all = product(0, rows)
            for (first, count) in [(0, 1), (999, 1), (5, 7), (100, 13), (500, 250)] {
                #expect(Array(all[first * outputs ..< (first + count) * outputs]) == product(first, count), "rows \(first)+\(count) level \(level)")
            }
        }
    }
}
