import CKernels

/// A linear weight [outputs, inputs] (PyTorch's layout) packed for `Kernels.packedProduct`: its
/// transpose in panels of 16 output columns (inputs × 16 floats each), made once per weight and
/// read by every call, so no call packs its B operand as sgemm does.
///
/// ```swift
/// let packed = PackedWeights(weight: w, outputs: 1280, inputs: 320)
/// Kernels.packedProduct(x, count: rows, weights: packed, bias: b, into: y)
/// ```
public final class PackedWeights: @unchecked Sendable {
    public let outputs: Int
    public let inputs: Int
    let data: UnsafeMutablePointer<Float>

    public init(weight: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        self.outputs = outputs
        self.inputs = inputs
        data = .allocate(capacity: max(1, ck_gemm_packed_count(outputs, inputs)))
        ck_gemm_pack(weight, outputs, inputs, data)
    }

    deinit { data.deallocate() }
}

extension Kernels {
    /// Rows per pool task of `packedProduct`: a multiple of the kernel's row tile (12) and row block (192).
    static let packedProductRowBlock = 768

    /// y = x · Wᵀ + bias (y += x · Wᵀ + bias when `accumulate`) for `count` rows of `weights.inputs`
    /// floats, all in one `ck_gemm_packed` pass over the packed weight (row blocks and column bands
    /// spread over the pool); `bias` may be nil. Each row's result is bit-identical whatever the
    /// other rows, so the images of a batch can share the call and still equal themselves alone.
    public static func packedProduct(_ x: UnsafePointer<Float>, count: Int, weights: PackedWeights, bias: UnsafePointer<Float>?,
                                     into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        let (k, n) = (weights.inputs, weights.outputs)
        let w = UnsafePointer(weights.data)
        Parallel.forEachBlockAndBand(total: count, blockSize: packedProductRowBlock, channels: n) { first, rows, begin, end in
            ck_gemm_packed(x + first * k, rows, k, k, w, begin, end, bias, y + first * n, n, accumulate ? 1 : 0)
        }
    }
}
