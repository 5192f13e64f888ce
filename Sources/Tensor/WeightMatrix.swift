import CKernels

/// A read-only rows × cols weight matrix in float32, float16, bfloat16 or a GGUF quantized block type,
/// usually a view into a memory-mapped checkpoint (no copy). `owner` keeps the backing memory alive.
///
/// ```swift
/// let w = WeightMatrix(values: [1, 2, 3, 4, 5, 6], rows: 2, cols: 3)
/// let y = Matrix(rows: 1, cols: 2)
/// w.multiply(Matrix(rows: 1, cols: 3, values: [1, 0, 1]), into: y)   // y = [4, 10]
/// ```
public struct WeightMatrix: @unchecked Sendable {
    public let dtype: DType
    public let rows: Int
    public let cols: Int
    /// First element of row 0; rows are contiguous.
    public let base: UnsafeRawPointer
    private let owner: AnyObject
    /// The float32 copy prefill uses (16-bit matrices only).
    let widened: WidenedCopy?
    /// Q4_0 only: the whole groups of 8 rows reordered once at load into the interleaved layout the
    /// SIMD kernels read (`ck_q4_0_x8_pack`, as many bytes as those rows; never a float copy).
    /// Row lookups and the rows after the last group read `base`.
    let interleaved: OwnedBytes?

    /// Wraps memory owned by `owner` (e.g. a memory-mapped file).
    public init(base: UnsafeRawPointer, dtype: DType, rows: Int, cols: Int, owner: AnyObject) {
        self.base = base
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
        self.owner = owner
        precondition(cols % dtype.blockElements == 0, "\(dtype) rows hold whole blocks of \(dtype.blockElements)")
        // Quantized matrices run their own integer kernels for any number of rows, never a float copy.
        widened = dtype == .f32 || dtype.isQuantized ? nil : WidenedCopy()
        interleaved = dtype == .q4_0 && rows >= 8 ? Self.interleave(base, rows: rows, cols: cols) : nil
    }

    private static func interleave(_ base: UnsafeRawPointer, rows: Int, cols: Int) -> OwnedBytes {
        let copy = OwnedBytes(count: ck_q4_0_x8_bytes(rows, cols))
        ck_q4_0_x8_pack(base, rows, cols, copy.pointer)
        return copy
    }

    /// A float32 weight matrix holding a copy of `values` (row-major).
    public init(values: [Float], rows: Int, cols: Int) {
        precondition(values.count == rows * cols, "expected \(rows * cols) values, got \(values.count)")
        let storage = OwnedBytes(count: values.count * 4)
        values.withUnsafeBytes { if let source = $0.baseAddress { storage.pointer.copyMemory(from: source, byteCount: $0.count) } }
        self.init(base: UnsafeRawPointer(storage.pointer), dtype: .f32, rows: rows, cols: cols, owner: storage)
    }

    /// A 16-bit weight matrix holding a copy of `bits` (raw float16 or bfloat16 patterns, row-major).
    public init(bits: [UInt16], dtype: DType, rows: Int, cols: Int) {
        precondition(dtype == .f16 || dtype == .bf16, "use init(values:rows:cols:) for float32")
        precondition(bits.count == rows * cols, "expected \(rows * cols) values, got \(bits.count)")
        let storage = OwnedBytes(count: bits.count * 2)
        bits.withUnsafeBytes { if let source = $0.baseAddress { storage.pointer.copyMemory(from: source, byteCount: $0.count) } }
        self.init(base: UnsafeRawPointer(storage.pointer), dtype: dtype, rows: rows, cols: cols, owner: storage)
    }

    /// Address of row `r`.
    @inline(__always)
    public func rowPointer(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }

    /// Bytes of one row.
    public var rowBytes: Int { dtype.byteCount(cols) }

    /// Widens row `r` into `destination` (cols floats): the embedding lookup.
    public func copyRow(_ r: Int, to destination: UnsafeMutablePointer<Float>) {
        ck_convert_to_f32(dtype.kernelType, rowPointer(r), destination, cols)
    }

    /// The whole matrix widened to float32.
    public func toFloatArray() -> [Float] {
        [Float](unsafeUninitializedCapacity: rows * cols) { buffer, initialized in
            if let out = buffer.baseAddress { ck_convert_matrix_parallel(dtype.kernelType, base, cols, rows, cols, out) }
            initialized = rows * cols
        }
    }
}

extension WeightMatrix {
    /// Quantizes float32 `values` (rows × cols, cols a multiple of 32) to Q8_0 or Q4_0 blocks, as
    /// llama.cpp's reference quantizer does.
    public init(quantizing values: UnsafePointer<Float>, rows: Int, cols: Int, to dtype: DType) {
        precondition(dtype == .q8_0 || dtype == .q4_0, "only Q8_0 and Q4_0 are quantized here")
        precondition(cols % 32 == 0, "quantized rows hold whole blocks of 32")
        let rowBytes = dtype.byteCount(cols)
        let storage = OwnedBytes(count: rows * rowBytes)
        for r in 0 ..< rows { ck_quantize_row(dtype.kernelType, values + r * cols, storage.pointer + r * rowBytes, cols) }
        self.init(base: UnsafeRawPointer(storage.pointer), dtype: dtype, rows: rows, cols: cols, owner: storage)
    }

    /// This matrix quantized to Q8_0 or Q4_0 (from its float32 values).
    public func quantized(to type: DType) -> WeightMatrix {
        let floats = toFloatArray()
        return floats.withUnsafeBufferPointer { WeightMatrix(quantizing: $0.baseAddress!, rows: rows, cols: cols, to: type) }
    }
}

/// Heap bytes released with their last reference.
final class OwnedBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(count: Int) { pointer = .allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { pointer.deallocate() }
}
