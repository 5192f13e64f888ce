import CKernels
import CoreUtilities
import Foundation
import Testing
@testable import Tensor

/// The quantized block kernels against a dequantize-then-float reference, on random blocks, odd
/// row and vector counts, and every dispatch path (portable, AVX2, AVX-512 VNNI where the CPU has it;
/// Q4_0's SIMD paths on its interleaved copy for whole groups of 8 rows, the stored rows after them).
///
/// Activations are drawn so that their 8-bit quantization is exact (integers times 2⁻⁶ with a
/// ±127 in every block), which makes the reference exact too: any difference is the kernel's.
struct QuantizedKernelTests {
    static let shapes: [(rows: Int, blocks: Int, vectors: Int)] = [(1, 1, 1), (7, 3, 1), (13, 2, 2), (33, 5, 3), (9, 1, 5), (64, 3, 17)]

    /// Random blocks: random quantized bytes with small random scales in the float16 fields.
    static func randomMatrix(_ dtype: DType, rows: Int, cols: Int, seed: UInt64) -> WeightMatrix {
        var rng = SplitMix64(seed: seed)
        let blockBytes = dtype.blockBytes
        var bytes = (0 ..< rows * dtype.byteCount(cols)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
        // Offsets of the float16 scale fields in each block layout.
        let scaleOffsets: [Int] = switch dtype {
        case .q6_K: [208]
        case .q4_1, .q4_K, .q5_K: [0, 2]
        default: [0]
        }
        for block in stride(from: 0, to: bytes.count, by: blockBytes) {
            for offset in scaleOffsets {
                let bits = HalfConversion.f16(Float.random(in: -0.05 ... 0.05, using: &rng))
                bytes[block + offset] = UInt8(bits & 0xFF)
                bytes[block + offset + 1] = UInt8(bits >> 8)
            }
        }
        let storage = OwnedBytes(count: bytes.count)
        bytes.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return WeightMatrix(base: UnsafeRawPointer(storage.pointer), dtype: dtype, rows: rows, cols: cols, owner: storage)
    }

    static func exactActivations(count: Int, cols: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var x = (0 ..< count * cols).map { _ in Float(Int.random(in: -127 ... 127, using: &rng)) / 64 }
        for start in stride(from: 0, to: x.count, by: 32) { x[start] = 127 / 64 }
        return x
    }

    @Test(arguments: DType.quantizedTypes)
    func kernelsMatchDequantizedReference(dtype: DType) {
        let paths = (0 ... Int(ck_simd_best_level())).map(Int32.init)
        defer { ck_set_simd_level(2) }
        for (index, shape) in Self.shapes.enumerated() {
            let cols = shape.blocks * dtype.blockElements
            let w = Self.randomMatrix(dtype, rows: shape.rows, cols: cols, seed: UInt64(index))
            let values = w.toFloatArray()
            let x = Self.exactActivations(count: shape.vectors, cols: cols, seed: 50 + UInt64(index))
            var expected = [Float](repeating: 0, count: shape.vectors * shape.rows)
            var magnitude: Double = 0
            for v in 0 ..< shape.vectors {
                for r in 0 ..< shape.rows {
                    var sum: Double = 0
                    for c in 0 ..< cols { sum += Double(values[r * cols + c]) * Double(x[v * cols + c]) }
                    expected[v * shape.rows + r] = Float(sum)
                    magnitude = max(magnitude, abs(sum))
                }
            }
            let tolerance = Float(max(magnitude, 1)) * 2e-6
            for level in paths {
                ck_set_simd_level(level)
                let output = Matrix(rows: shape.vectors, cols: shape.rows)
                w.multiply(Matrix(rows: shape.vectors, cols: cols, values: x), into: output)
                #expect(maxAbsDifference(output.toArray(), expected) < tolerance, "\(dtype) \(shape) level \(level)")
                let start = randomFloats(shape.vectors * shape.rows, seed: 9)
                let accumulated = Matrix(rows: shape.vectors, cols: shape.rows, values: start)
                w.multiply(Matrix(rows: shape.vectors, cols: cols, values: x), into: accumulated, accumulate: true)
                #expect(maxAbsDifference(accumulated.toArray(), zip(start, expected).map { $0 + $1 }) < tolerance * 2, "\(dtype) accumulate level \(level)")
            }
        }
    }

    /// Prefill's product (many activation rows at once: 4 × 4 register tiles on AVX-512 VNNI, four-row
    /// dot products on AVX2) equals decode's one row at a time bit for bit on every path, odd row
    /// and vector counts included, so a token's logits do not depend on how many rows shared its step.
    @Test(arguments: DType.quantizedTypes)
    func manyRowsEqualOneRowAtATime(dtype: DType) {
        let paths = (0 ... Int(ck_simd_best_level())).map(Int32.init)
        defer { ck_set_simd_level(2) }
        for (index, (rows, blocks, vectors)) in [(13, 3, 9), (64, 18, 21), (40, 6, 70)].enumerated() {
            let cols = blocks * dtype.blockElements
            let w = Self.randomMatrix(dtype, rows: rows, cols: cols, seed: 100 + UInt64(index))
            let x = randomFloats(vectors * cols, seed: 200 + UInt64(index))
            for level in paths {
                ck_set_simd_level(level)
                let all = Matrix(rows: vectors, cols: rows)
                w.multiply(Matrix(rows: vectors, cols: cols, values: x), into: all)
                var mismatched = 0
                for v in 0 ..< vectors {
                    let one = Matrix(rows: 1, cols: rows)
                    w.multiply(Matrix(rows: 1, cols: cols, values: Array(x[v * cols ..< (v + 1) * cols])), into: one)
                    mismatched += (0 ..< rows).filter { one.data[$0].bitPattern != all.row(v)[$0].bitPattern }.count
                }
                #expect(mismatched == 0, "\(dtype) \(rows)×\(cols), \(vectors) vectors, level \(level): \(mismatched) results differ")
            }
        }
    }

    /// Q4_0's SIMD paths read the interleaved copy made at load for whole groups of 8 rows, and
    /// the stored rows for the rest: with the stored bytes of the grouped rows cleared afterwards,
    /// the AVX2/AVX-512 results are unchanged while the portable path (stored rows) sees zeros.
    @Test func q4_0SIMDPathsReadTheInterleavedCopy() {
        let (rows, cols, vectors) = (19, 96, 6)
        let w = Self.randomMatrix(.q4_0, rows: rows, cols: cols, seed: 77)
        #expect(w.interleaved != nil && ck_q4_0_x8_bytes(rows, cols) == 16 * w.rowBytes)
        let x = Matrix(rows: vectors, cols: cols, values: Self.exactActivations(count: vectors, cols: cols, seed: 78))
        let levels = (1 ... Int(ck_simd_best_level())).map(Int32.init)
        defer { ck_set_simd_level(2) }
        var before: [[Float]] = []
        for level in levels {
            ck_set_simd_level(level)
            let y = Matrix(rows: vectors, cols: rows)
            w.multiply(x, into: y)
            before.append(y.toArray())
        }
        UnsafeMutableRawPointer(mutating: w.base).initializeMemory(as: UInt8.self, repeating: 0, count: 16 * w.rowBytes)
        for (level, expected) in zip(levels, before) {
            ck_set_simd_level(level)
            let y = Matrix(rows: vectors, cols: rows)
            w.multiply(x, into: y)
            #expect(y.toArray() == expected, "level \(level)")
        }
        ck_set_simd_level(0)
        let portable = Matrix(rows: vectors, cols: rows)
        w.multiply(x, into: portable)
        #expect((0 ..< vectors).allSatisfy { v in (0 ..< 16).allSatisfy { portable.row(v)[$0] == 0 } })
    }

    /// Q8_0/Q4_0 quantization at load time (`--quantize`): values round-trip within half a step of
    /// their block scale (Q4_0: one step, as ggml maps the block's extreme to -8 and clamps its opposite at 7).
    @Test(arguments: [DType.q8_0, .q4_0])
    func quantizeRoundTrips(dtype: DType) {
        let (rows, cols) = (5, 96)
        let values = randomFloats(rows * cols, seed: 3)
        let w = WeightMatrix(values: values, rows: rows, cols: cols).quantized(to: dtype)
        #expect(w.dtype == dtype && w.rowBytes == dtype.byteCount(cols))
        let back = w.toFloatArray()
        for block in stride(from: 0, to: values.count, by: 32) {
            let amax = values[block ..< block + 32].map(abs).max()!
            let bound = dtype == .q8_0 ? amax / 127 * 0.5 : amax / 8
            for i in block ..< block + 32 { #expect(abs(back[i] - values[i]) <= bound * 1.01 + 1e-3, "\(dtype) element \(i)") }
        }
    }
}
