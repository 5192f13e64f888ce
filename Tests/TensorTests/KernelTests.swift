import Foundation
import Testing
@testable import Tensor

/// Each kernel against a naive Swift reference, on both kernel paths. Serialized because the
/// kernel path is a process-wide switch.
@Suite(.serialized)
struct KernelTests {
    static let shapes: [(rows: Int, cols: Int, vectors: Int)] = [(1, 1, 1), (7, 13, 1), (9, 31, 2), (33, 100, 3), (64, 257, 5), (130, 768, 1), (20, 45, 9)]

    @Test(arguments: DType.floatTypes)
    func matvecMatchesNaive(dtype: DType) {
        for (index, shape) in Self.shapes.enumerated() {
            let (w, values) = randomWeights(rows: shape.rows, cols: shape.cols, dtype: dtype, seed: UInt64(index))
            let x = randomFloats(shape.vectors * shape.cols, seed: 100 + UInt64(index))
            var expected = [Float](repeating: 0, count: shape.vectors * shape.rows)
            for v in 0 ..< shape.vectors {
                for r in 0 ..< shape.rows {
                    var sum: Double = 0
                    for c in 0 ..< shape.cols { sum += Double(values[r * shape.cols + c]) * Double(x[v * shape.cols + c]) }
                    expected[v * shape.rows + r] = Float(sum)
                }
            }
            withEachKernelPath { path in
                let input = Matrix(rows: shape.vectors, cols: shape.cols, values: x)
                let output = Matrix(rows: shape.vectors, cols: shape.rows)
                w.multiply(input, into: output)
                let tolerance = Float(shape.cols).squareRoot() * 1e-5
                #expect(maxAbsDifference(output.toArray(), expected) < tolerance, "\(dtype) \(shape) \(path)")
                w.multiply(input, into: output, accumulate: true)
                #expect(maxAbsDifference(output.toArray(), expected.map { 2 * $0 }) < 2 * tolerance, "accumulate \(dtype) \(shape) \(path)")
            }
        }
    }

    @Test func dotAndAxpy() {
        for n in [1, 7, 8, 15, 16, 17, 64, 100, 255] {
            let a = randomFloats(n, seed: 1), b = randomFloats(n, seed: 2)
            let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            withEachKernelPath { path in
                #expect(abs(Double(Kernels.dot(a, b, count: n)) - expected) < 1e-5, "dot n=\(n) \(path)")
                var y = b
                y.withUnsafeMutableBufferPointer { Kernels.axpy($0.baseAddress!, 0.5, a, count: n) }
                #expect(maxAbsDifference(y, zip(a, b).map { 0.5 * $0 + $1 }) < 1e-6, "axpy n=\(n) \(path)")
            }
        }
    }

    @Test func normalisations() {
        for n in [1, 5, 64, 67] {
            let x = randomFloats(3 * n, seed: 3, scale: 4)
            let weight = randomFloats(n, seed: 4), bias = randomFloats(n, seed: 5)
            var rms = [Float](), layer = [Float]()
            for r in 0 ..< 3 {
                let row = x[(r * n) ..< ((r + 1) * n)].map(Double.init)
                let inv = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(n) + 1e-6).squareRoot()
                rms += row.indices.map { Float(Double(weight[$0]) * row[$0] * inv) }
                let mean = row.reduce(0, +) / Double(n)
                let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
                layer += row.indices.map { Float((row[$0] - mean) / (variance + 1e-5).squareRoot() * Double(weight[$0]) + Double(bias[$0])) }
            }
            let input = Matrix(rows: 3, cols: n, values: x)
            let out = Matrix(rows: 3, cols: n)
            Kernels.rmsNorm(input, weight: weight, eps: 1e-6, into: out)
            #expect(maxAbsDifference(out.toArray(), rms) < 1e-5, "rmsnorm n=\(n)")
            Kernels.layerNorm(input, weight: weight, bias: bias, eps: 1e-5, into: out)
            #expect(maxAbsDifference(out.toArray(), layer) < 1e-4, "layernorm n=\(n)")
        }
    }

    @Test func softmaxAndActivations() {
        for n in [1, 3, 8, 9, 33, 100] {
            let x = randomFloats(n, seed: 6, scale: 20)
            let maximum = x.max()!
            let exps = x.map { exp(Double($0 - maximum)) }
            let expected = exps.map { Float($0 / exps.reduce(0, +)) }
            let gate = randomFloats(n, seed: 7, scale: 30), up = randomFloats(n, seed: 8, scale: 3)
            let swiglu = zip(gate, up).map { g, u in Float(Double(g) / (1 + exp(-Double(g))) * Double(u)) }
            withEachKernelPath { path in
                let m = Matrix(rows: 1, cols: n, values: x)
                Kernels.softmaxRows(m)
                #expect(maxAbsDifference(m.toArray(), expected) < 1e-6, "softmax n=\(n) \(path)")
                let out = Matrix(rows: 1, cols: n)
                Kernels.siluMul(gate: Matrix(rows: 1, cols: n, values: gate), up: Matrix(rows: 1, cols: n, values: up), into: out)
                let relative = zip(out.toArray(), swiglu).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                #expect(relative < 1e-5, "silu·mul n=\(n) \(path)")
            }
            let g = Matrix(rows: 1, cols: n, values: gate)
            Kernels.gelu(g, approximateTanh: false)
            #expect(maxAbsDifference(g.toArray(), gate.map { Float(0.5 * Double($0) * (1 + erf(Double($0) / 2.0.squareRoot()))) }) < 1e-5)
            let t = Matrix(rows: 1, cols: n, values: gate)
            Kernels.gelu(t, approximateTanh: true)
            let tanhForm = gate.map { v -> Float in
                let d = Double(v)
                return Float(0.5 * d * (1 + tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d))))
            }
            #expect(maxAbsDifference(t.toArray(), tanhForm) < 1e-5)
        }
    }

    /// Two rows of 3 heads of 10 random elements, and each row's 5 random angles as cos and sin tables.
    static func ropeInputs(seed: UInt64) -> (x: [Float], angles: [Float], cos: Matrix, sin: Matrix) {
        let angles = randomFloats(2 * 5, seed: seed + 1, scale: 3)
        return (randomFloats(2 * 3 * 10, seed: seed), angles,
                Matrix(rows: 2, cols: 5, values: angles.map { cos($0) }), Matrix(rows: 2, cols: 5, values: angles.map { sin($0) }))
    }

    @Test func ropeRotatesHalves() {
        let heads = 3, dim = 10, half = 5
        let (x, angles, cosTable, sinTable) = Self.ropeInputs(seed: 9)
        var expected = x
        for r in 0 ..< 2 {
            for h in 0 ..< heads {
                for i in 0 ..< half {
                    let base = r * heads * dim + h * dim
                    let (c, s) = (cos(angles[r * half + i]), sin(angles[r * half + i]))
                    expected[base + i] = x[base + i] * c - x[base + i + half] * s
                    expected[base + i + half] = x[base + i + half] * c + x[base + i] * s
                }
            }
        }
        for fused in [false, true] {
            let m = Matrix(rows: 2, cols: heads * dim, values: x)
            Kernels.applyRoPE(m, heads: heads, headDim: dim, cos: cosTable, sin: sinTable, fused: fused)
            #expect(maxAbsDifference(m.toArray(), expected) < 1e-6, "fused: \(fused)")
        }
    }

    /// Interleaved pairs rotate exactly as halves do once each head's elements are permuted
    /// (pair i at 2i, 2i + 1 instead of i, i + half), bit for bit.
    @Test func ropeRotatesInterleavedPairsAsPermutedHalves() {
        let heads = 3, dim = 10, half = 5
        let (x, _, cosTable, sinTable) = Self.ropeInputs(seed: 11)
        // Element e of an interleaved head is element (e even ? e/2 : half + e/2) of the halves head.
        let halvesIndex = (0 ..< 2 * heads * dim).map { i in
            let head = i / dim, e = i % dim
            return head * dim + (e % 2 == 0 ? e / 2 : half + e / 2)
        }
        for fused in [false, true] {
            let halves = Matrix(rows: 2, cols: heads * dim, values: x)
            let interleaved = Matrix(rows: 2, cols: heads * dim, values: (0 ..< 2 * heads * dim).map { i in
                x[i / (heads * dim) * heads * dim + halvesIndex[i % (heads * dim)]]
            })
            Kernels.applyRoPE(halves, heads: heads, headDim: dim, cos: cosTable, sin: sinTable, fused: fused)
            Kernels.applyRoPE(interleaved, heads: heads, headDim: dim, cos: cosTable, sin: sinTable, fused: fused, pairs: .interleaved)
            let h = halves.toArray(), v = interleaved.toArray()
            let mismatched = v.indices.filter { i in v[i].bitPattern != h[i / (heads * dim) * heads * dim + halvesIndex[i % (heads * dim)]].bitPattern }
            #expect(mismatched.isEmpty, "fused: \(fused), mismatched elements \(mismatched.prefix(5))")
        }
    }

    @Test func halfConversionsMatchSwiftFloat16() {
        withEachKernelPath { path in
            let bits = (0 ... UInt16.max).map { $0 }
            let f16 = WeightMatrix(bits: bits, dtype: .f16, rows: 1, cols: bits.count).toFloatArray()
            let mismatches = bits.indices.filter { i in
                let expected = Float(Float16(bitPattern: bits[i]))
                return !(expected.isNaN && f16[i].isNaN) && expected.bitPattern != f16[i].bitPattern
            }
            #expect(mismatches.isEmpty, "f16 widening \(path): \(mismatches.prefix(5))")
            let bf16 = WeightMatrix(bits: bits, dtype: .bf16, rows: 1, cols: bits.count).toFloatArray()
            #expect(bits.indices.allSatisfy { bf16[$0].bitPattern == UInt32(bits[$0]) << 16 }, "bf16 widening \(path)")
        }
        for value in randomFloats(5000, seed: 11, scale: 70000) + [0, -0, 1e-8, 6.1e-5, 65504, 65520, 1e-7, -3e-6] {
            #expect(HalfConversion.f16(value) == Float16(value).bitPattern, "f16(\(value))")
        }
        #expect(HalfConversion.bf16(1.00390625) == 0x3F80)   // tie rounds to even
        #expect(HalfConversion.bf16(1.01171875) == 0x3F82)
    }
}
