import CKernels
import COpenBLAS

extension WeightMatrix {
    /// Up to this many input rows use the weight-streaming matrix-vector kernel; more use SGEMM.
    public static let matvecRowLimit = 4

    /// y = x · Wᵀ (or y += x · Wᵀ when `accumulate`): x is T × cols, y is T × rows.
    ///
    /// Quantized weights always run the integer block kernels (activations quantized to 8 bits);
    /// Q4_0 reads its interleaved copy on the SIMD paths.
    /// Few rows (decode) stream the weights in their stored type; larger T (prefill) runs OpenBLAS
    /// SGEMM split across the compute pool, on the matrix's kept float32 copy (`WidenedWeights`) or,
    /// past that budget, on weights widened for this call.
    public func multiply(_ x: Matrix, into y: Matrix, accumulate: Bool = false) {
        precondition(x.cols == cols && y.cols == rows && x.rows == y.rows, "shape mismatch in multiply")
        multiply(x.data, count: x.rows, into: y.data, accumulate: accumulate)
    }

    /// Pointer form of `multiply(_:into:accumulate:)`: `count` input rows of `cols` floats, outputs of `rows` floats.
    public func multiply(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        guard count > 0, rows > 0 else { return }
        ComputeThreads.configureOnce()
        if dtype.isQuantized {
            ck_qmatmul_parallel(dtype.kernelType, base, interleaved.map { UnsafeRawPointer($0.pointer) }, rows, cols, x, cols, count, y, rows, accumulate ? 1 : 0)
            return
        }
        if count <= Self.matvecRowLimit || cols == 0 {
            ck_matvec_parallel(dtype.kernelType, base, cols, rows, cols, x, cols, count, y, rows, accumulate ? 1 : 0)
            return
        }
        if dtype == .f32 {
            Self.gemm(x, count: count, weights: base.assumingMemoryBound(to: Float.self), rows: rows, cols: cols, y: y, accumulate: accumulate)
            return
        }
        if let floats = widened?.floats(of: self) {
            Self.gemm(x, count: count, weights: floats, rows: rows, cols: cols, y: y, accumulate: accumulate)
            return
        }
        ScratchBuffers.with(count: rows * cols) { widened in
            ck_convert_matrix_parallel(dtype.kernelType, base, cols, rows, cols, widened)
            Self.gemm(x, count: count, weights: widened, rows: rows, cols: cols, y: y, accumulate: accumulate)
        }
    }

    /// Several independent products `output = input · weightᵀ` (e.g. q, k, v from one input).
    /// With few input rows they run as one pool job, saving a dispatch per matrix in decode.
    public static func multiply(_ products: [(weight: WeightMatrix, input: Matrix, output: Matrix)]) {
        for p in products {
            precondition(p.input.cols == p.weight.cols && p.output.cols == p.weight.rows && p.input.rows == p.output.rows, "shape mismatch in multiply")
        }
        guard let count = products.first?.input.rows, count <= matvecRowLimit,
              products.allSatisfy({ $0.input.rows == count && $0.weight.cols > 0 && !$0.weight.dtype.isQuantized }) else {
            for p in products { p.weight.multiply(p.input, into: p.output) }
            return
        }
        ComputeThreads.configureOnce()
        let items = products.map { p in
            ck_matvec_item(dtype: p.weight.dtype.kernelType, w: p.weight.base, rows: p.weight.rows, k: p.weight.cols,
                           x: p.input.data, y: p.output.data, accumulate: 0)
        }
        items.withUnsafeBufferPointer { ck_matvec_group_parallel($0.baseAddress, Int32(items.count), count) }
    }

    /// y[count × rows] (+)= x[count × cols] · wᵀ, output columns split across the pool.
    static func gemm(_ x: UnsafePointer<Float>, count: Int, weights: UnsafePointer<Float>, rows: Int, cols: Int,
                     y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let tasks = max(1, min(ComputeThreads.count * 2, rows / 64))
        let beta: Float = accumulate ? 1 : 0
        Parallel.forEach(tasks) { task in
            let (begin, end) = Parallel.sixteens(task, of: tasks, count: rows)
            guard begin < end else { return }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                        Int32(count), Int32(end - begin), Int32(cols),
                        1, x, Int32(cols), weights + begin * cols, Int32(cols),
                        beta, y + begin, Int32(rows))
        }
    }
}
