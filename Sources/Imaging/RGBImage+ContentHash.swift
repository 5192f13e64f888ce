import Crypto

extension RGBImage {
    /// Identifies the image by content: the lowercase hex SHA-256 of the width and height as
    /// big-endian `UInt32`s followed by the RGB pixel bytes.
    ///
    /// Two decodes of the same picture (even from different encodings) share a hash exactly when
    /// their pixels match, so caches can key on `(contentHash, preprocessing parameters)`.
    /// It is computed on each access (linear in the pixel count); keep it if you need it twice.
    public var contentHash: String {
        var hasher = SHA256()
        var header = [UInt8]()
        header.reserveCapacity(8)
        for value in [UInt32(truncatingIfNeeded: width), UInt32(truncatingIfNeeded: height)] {
            header.append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
        }
        hasher.update(data: header)
        hasher.update(data: pixels)
        return hasher.finalize().map { hexDigits[Int($0 >> 4)] + hexDigits[Int($0 & 0xF)] }.joined()
    }
}

private let hexDigits = (0..<16).map { String($0, radix: 16) }
