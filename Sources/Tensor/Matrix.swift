/// A dense, row-major float32 matrix that owns its memory: the activation type of every kernel.
///
/// A reference type so that large activations are never copied; writers must not share one
/// instance across concurrent computations.
///
/// ```swift
/// let x = Matrix(rows: 2, cols: 3)
/// x[1, 2] = 5
/// ```
public final class Matrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// rows × cols floats, row-major.
    public let data: UnsafeMutablePointer<Float>
    /// The span that counts this matrix's bytes (``ActivationSpan``), if it was made in one.
    private let span: ActivationSpan?

    /// A zero-filled matrix.
    public init(rows: Int, cols: Int) {
        precondition(rows >= 0 && cols >= 0, "matrix dimensions must be non-negative")
        self.rows = rows
        self.cols = cols
        data = .allocate(capacity: max(1, rows * cols))
        data.initialize(repeating: 0, count: max(1, rows * cols))
        span = ActivationSpan.allocating(max(1, rows * cols) * MemoryLayout<Float>.stride)
    }

    /// A matrix holding `values` (row-major; `values.count` must equal rows × cols).
    public convenience init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "expected \(rows * cols) values, got \(values.count)")
        self.init(rows: rows, cols: cols)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { data.update(from: base, count: values.count) }
        }
    }

    deinit {
        data.deallocate()
        span?.free(max(1, rows * cols) * MemoryLayout<Float>.stride)
    }

    public var count: Int { rows * cols }

    /// Pointer to the first element of row `r`.
    @inline(__always)
    public func row(_ r: Int) -> UnsafeMutablePointer<Float> { data + r * cols }

    public subscript(r: Int, c: Int) -> Float {
        get { data[r * cols + c] }
        set { data[r * cols + c] = newValue }
    }

    /// A copy of row `r`.
    public func rowArray(_ r: Int) -> [Float] { Array(UnsafeBufferPointer(start: row(r), count: cols)) }

    /// A copy of all elements, row-major.
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
}
