/// An image's one identity from the HTTP handler to the encoder, the KV cache and the policies:
/// a 256-bit content address (SHA-256), computed once where the image enters the system and carried
/// with it, so no later process hashes pixels again.
///
/// Images that arrive encoded are named by the SHA-256 of their bytes as received (the same bytes
/// decode to the same pixels); images built from pixels alone by the SHA-256 of their size and
/// pixels (`Imaging` computes both). Traces name images by a number (``init(number:)``).
/// Routing, the encoder cache, KV block hashes, wire messages and metrics all key on this value.
///
/// ```swift
/// let id = ImageID(digest: sha256Bytes)   // 32 bytes
/// id.hex                                  // "9f86d081…", 64 characters
/// ImageID(hex: id.hex) == id              // true
/// ```
public struct ImageID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The digest as four big-endian 64-bit words, most significant first.
    public let words: (UInt64, UInt64, UInt64, UInt64)

    /// From a 32-byte digest.
    public init(digest: some Collection<UInt8>) {
        precondition(digest.count == 32, "an image id is a 32-byte digest, got \(digest.count) bytes")
        var w: [UInt64] = [0, 0, 0, 0]
        for (i, byte) in digest.enumerated() { w[i / 8] = w[i / 8] << 8 | UInt64(byte) }
        words = (w[0], w[1], w[2], w[3])
    }

    /// An image a trace names by a number (equal numbers, equal images).
    public init(number: UInt64) {
        words = (number, 0, 0, 0)
    }

    /// From 64 hexadecimal digits (``hex``); nil for anything else.
    public init?(hex: some StringProtocol) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let high = Self.nibble(digits[i]), let low = Self.nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.init(digest: bytes)
    }

    /// The 64 lowercase hexadecimal digits of the digest.
    public var hex: String {
        [words.0, words.1, words.2, words.3].map { word in
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }

    public var description: String { hex }

    /// Mixes the whole digest into a 64-bit hash chain (KV block hashes, prompt-block seeds).
    public func mix(into h: inout FNV1a) {
        h.mix(words.0)
        h.mix(words.1)
        h.mix(words.2)
        h.mix(words.3)
    }

    public static func == (a: ImageID, b: ImageID) -> Bool {
        a.words == b.words
    }

    public static func < (a: ImageID, b: ImageID) -> Bool {
        a.words < b.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = ImageID(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an image id (64 hexadecimal digits)")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a") ... UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A") ... UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
