/// 64-bit FNV-1a (Fowler–Noll–Vo), the non-cryptographic hash behind KV block hashes, routing's
/// prompt-block hashes and the output-length predictor's hashed features.
///
/// ```swift
/// var h = FNV1a()
/// h.mix(bytes: "prompt".utf8)
/// h.mix(UInt64(42))
/// let key = h.value
/// ```
public struct FNV1a: Sendable {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    public mutating func mix(bytes: some Sequence<UInt8>) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    }

    /// Mixes `word` as its eight little-endian bytes.
    public mutating func mix(_ word: UInt64) {
        var v = word
        for _ in 0 ..< 8 {
            value = (value ^ (v & 0xFF)) &* 0x0000_0100_0000_01B3
            v >>= 8
        }
    }

    /// The hash of a string's UTF-8 bytes.
    public static func hash(_ s: String) -> UInt64 {
        var h = FNV1a()
        h.mix(bytes: s.utf8)
        return h.value
    }
}
