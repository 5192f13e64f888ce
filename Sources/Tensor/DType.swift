import CKernels

/// Storage type of weights. Compute is always float32; weights stay in their stored type
/// and are widened on the fly.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    /// Bytes per element.
    public var byteSize: Int { self == .f32 ? 4 : 2 }

    /// Parses a safetensors dtype string ("F32", "F16", "BF16"); nil for any other type.
    public init?(safetensorsName: String) { self.init(rawValue: safetensorsName) }

    var kernelType: ck_dtype {
        switch self {
        case .f32: CK_F32
        case .f16: CK_F16
        case .bf16: CK_BF16
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
