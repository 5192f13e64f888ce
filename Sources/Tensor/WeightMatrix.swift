import CKernels

/// A read-only rows × cols weight matrix in float32, float16 or bfloat16, usually a view into a
/// memory-mapped checkpoint (no copy). `owner` keeps the backing memory alive.
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

    /// Wraps memory owned by `owner` (e.g. a memory-mapped file).
    public init(base: UnsafeRawPointer, dtype: DType, rows: Int, cols: Int, owner: AnyObject) {
        self.base = base
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
        self.owner = owner
        widened = dtype == .f32 ? nil : WidenedCopy()
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
        precondition(dtype != .f32, "use init(values:rows:cols:) for float32")
        precondition(bits.count == rows * cols, "expected \(rows * cols) values, got \(bits.count)")
        let storage = OwnedBytes(count: bits.count * 2)
        bits.withUnsafeBytes { if let source = $0.baseAddress { storage.pointer.copyMemory(from: source, byteCount: $0.count) } }
        self.init(base: UnsafeRawPointer(storage.pointer), dtype: dtype, rows: rows, cols: cols, owner: storage)
    }

    /// Address of row `r`.
    @inline(__always)
    public func rowPointer(_ r: Int) -> UnsafeRawPointer { base + r * cols * dtype.byteSize }

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

/// Heap bytes released with their last reference.
final class OwnedBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(count: Int) { pointer = .allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { pointer.deallocate() }
}
