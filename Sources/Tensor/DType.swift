import CKernels

/// Storage type of weights. Compute is always float32; weights stay in their stored type: float
/// types are widened on the fly, GGUF's quantized blocks are read by integer kernels.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case q8_0 = "Q8_0"
    case q4_0 = "Q4_0"
    case q4_1 = "Q4_1"
    case q4_K = "Q4_K"
    case q5_K = "Q5_K"
    case q6_K = "Q6_K"

    /// The element-wise float types.
    public static let floatTypes: [DType] = [.f32, .f16, .bf16]
    /// The quantized block types.
    public static let quantizedTypes: [DType] = [.q8_0, .q4_0, .q4_1, .q4_K, .q5_K, .q6_K]

    public var isQuantized: Bool { blockElements > 1 }
    /// Elements per block (1 for the float types; 32 or 256 for quantized blocks).
    public var blockElements: Int { ck_block_elements(kernelType) }
    /// Bytes per block (the element size for the float types).
    public var blockBytes: Int { ck_block_bytes(kernelType) }
    /// Bytes of `count` elements (a multiple of `blockElements`).
    public func byteCount(_ count: Int) -> Int { count / blockElements * blockBytes }

    /// Parses a safetensors dtype string ("F32", "F16", "BF16"); nil for any other type.
    public init?(safetensorsName: String) {
        guard let type = DType(rawValue: safetensorsName), !type.isQuantized else { return nil }
        self = type
    }

    var kernelType: ck_dtype {
        switch self {
        case .f32: CK_F32
        case .f16: CK_F16
        case .bf16: CK_BF16
        case .q8_0: CK_Q8_0
        case .q4_0: CK_Q4_0
        case .q4_1: CK_Q4_1
        case .q4_K: CK_Q4_K
        case .q5_K: CK_Q5_K
        case .q6_K: CK_Q6_K
        }
    }
}

/// Scalar conversions between float32 and the 16-bit storage types (round to nearest even).
public enum HalfConversion {
    public static func float(fromF16 bits: UInt16) -> Float { ck_f16_to_f32_scalar(bits) }
    public static func float(fromBF16 bits: UInt16) -> Float { ck_bf16_to_f32_scalar(bits) }
    public static func f16(_ value: Float) -> UInt16 { ck_f32_to_f16_scalar(value) }
    public static func bf16(_ value: Float) -> UInt16 { ck_f32_to_bf16_scalar(value) }
}
