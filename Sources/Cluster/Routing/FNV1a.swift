/// 64-bit FNV-1a, the non-cryptographic hash behind prompt features and routing's block hashes.
struct FNV1a {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func mix(bytes: some Sequence<UInt8>) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    }

    /// Mixes `word` as its eight little-endian bytes.
    mutating func mix(_ word: UInt64) {
        var v = word
        for _ in 0 ..< 8 {
            value = (value ^ (v & 0xFF)) &* 0x0000_0100_0000_01B3
            v >>= 8
        }
    }
}
