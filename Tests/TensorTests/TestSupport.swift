import CoreUtilities
@testable import Tensor

func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0 ..< count).map { _ in Float.random(in: -scale ... scale, using: &rng) }
}

/// A weight matrix of `dtype` and the float32 values it actually holds (after rounding to the dtype).
func randomWeights(rows: Int, cols: Int, dtype: DType, seed: UInt64) -> (WeightMatrix, [Float]) {
    let values = randomFloats(rows * cols, seed: seed)
    switch dtype {
    case .f32:
        return (WeightMatrix(values: values, rows: rows, cols: cols), values)
    case .f16:
        let bits = values.map { Float16($0).bitPattern }
        return (WeightMatrix(bits: bits, dtype: .f16, rows: rows, cols: cols), bits.map { Float(Float16(bitPattern: $0)) })
    case .bf16:
        let bits = values.map { HalfConversion.bf16($0) }
        return (WeightMatrix(bits: bits, dtype: .bf16, rows: rows, cols: cols), bits.map { Float(bitPattern: UInt32($0) << 16) })
    default:
        preconditionFailure("randomWeights makes float matrices; QuantizedKernelTests makes quantized ones")
    }
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Runs `body` once with the SIMD kernels and once with the portable ones.
func withEachKernelPath(_ body: (String) throws -> Void) rethrows {
    defer { Kernels.setSIMDEnabled(true) }
    for simd in [true, false] {
        Kernels.setSIMDEnabled(simd)
        try body(simd ? "simd" : "portable")
    }
}
