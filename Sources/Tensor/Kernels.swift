import CKernels

/// Row-wise operations on activations, backed by the C kernels.
public enum Kernels {
    /// Forces the portable kernels (`false`) or re-enables the AVX2 ones where the CPU has them, on
    /// the calling thread and for the parallel loops it starts; other threads are unaffected.
    public static func setSIMDEnabled(_ enabled: Bool) { ck_set_simd_enabled(enabled ? 1 : 0) }
    /// Whether the AVX2/FMA/F16C kernels are in use on the calling thread.
    public static var simdActive: Bool { ck_simd_active() != 0 }

    /// RMSNorm of every row of `x` into `out`: weight · x / √(mean(x²) + eps).
    public static func rmsNorm(_ x: Matrix, weight: [Float], eps: Float, into out: Matrix) {
        precondition(weight.count == x.cols && out.cols == x.cols && out.rows == x.rows, "rmsNorm shape mismatch")
        weight.withUnsafeBufferPointer { w in
            for r in 0 ..< x.rows { ck_rmsnorm(x.row(r), w.baseAddress, out.row(r), x.cols, eps) }
        }
    }

    /// LayerNorm of every row of `x` into `out`; weight and bias are optional.
    public static func layerNorm(_ x: Matrix, weight: [Float]?, bias: [Float]?, eps: Float, into out: Matrix) {
        precondition(out.cols == x.cols && out.rows == x.rows, "layerNorm shape mismatch")
        precondition(weight.map { $0.count == x.cols } ?? true && bias.map { $0.count == x.cols } ?? true, "layerNorm parameter size")
        let w = weight ?? []
        let b = bias ?? []
        w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in
                for r in 0 ..< x.rows {
                    ck_layernorm(x.row(r), weight == nil ? nil : wp.baseAddress, bias == nil ? nil : bp.baseAddress,
                                 out.row(r), x.cols, eps)
                }
            }
        }
    }

    /// out = silu(gate) · up, element-wise (the SwiGLU MLP activation).
    public static func siluMul(gate: Matrix, up: Matrix, into out: Matrix) {
        precondition(gate.count == up.count && out.count == gate.count, "siluMul shape mismatch")
        ck_silu_mul(gate.data, up.data, out.data, gate.count)
    }

    /// In-place GELU; `approximateTanh` selects the tanh form.
    public static func gelu(_ x: Matrix, approximateTanh: Bool) {
        if approximateTanh { ck_gelu_tanh(x.data, x.count) } else { ck_gelu_erf(x.data, x.count) }
    }

    /// In-place softmax of every row.
    public static func softmaxRows(_ x: Matrix) {
        for r in 0 ..< x.rows { ck_softmax(x.row(r), x.cols) }
    }

    /// Adds `bias` to every row of `x`.
    public static func addBias(_ x: Matrix, _ bias: [Float]) {
        precondition(bias.count == x.cols, "bias size mismatch")
        bias.withUnsafeBufferPointer { b in
            for r in 0 ..< x.rows { ck_add(x.row(r), b.baseAddress, x.cols) }
        }
    }

    /// x *= y element-wise.
    public static func multiply(_ x: Matrix, _ y: Matrix) {
        precondition(x.count == y.count, "multiply shape mismatch")
        for i in 0 ..< x.count { x.data[i] *= y.data[i] }
    }

    /// x += y element-wise.
    public static func add(_ x: Matrix, _ y: Matrix) {
        precondition(x.count == y.count, "add shape mismatch")
        ck_add(x.data, y.data, x.count)
    }

    /// Rotates each row of `x` (heads of `headDim` floats) by the row's cos/sin table
    /// (`cos`/`sin`: x.rows × headDim/2, pair i by angle i, pairs laid out as `pairs` says); `fused`
    /// rounds each output through one fused multiply-add, as llama.cpp's compiled rope does.
    public static func applyRoPE(_ x: Matrix, heads: Int, headDim: Int, cos: Matrix, sin: Matrix, fused: Bool = false,
                                 pairs: RotaryPairs = .halves) {
        precondition(x.cols >= heads * headDim && cos.rows == x.rows && cos.cols == headDim / 2, "rope shape mismatch")
        let flags = (fused ? Int32(CK_ROPE_FUSED) : 0) | (pairs == .interleaved ? Int32(CK_ROPE_INTERLEAVED) : 0)
        for r in 0 ..< x.rows { ck_rope_apply(x.row(r), heads, headDim, headDim, cos.row(r), sin.row(r), flags) }
    }

    /// Dot product of two float buffers.
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float { ck_dot(a, b, count) }

    /// y += a · x.
    public static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, count: Int) {
        ck_axpy(y, a, x, count)
    }
}

/// Which elements of a head a rotary embedding turns together.
public enum RotaryPairs: Sendable, Equatable {
    /// (x[i], x[i + headDim/2]): transformers' `rotate_half`.
    case halves
    /// (x[2i], x[2i + 1]): llama.cpp's `llama` GGUF files, whose converter permutes the q/k rows
    /// this way. Keeping that layout keeps q·k summed in ggml's element order.
    case interleaved
}
