import Crypto
import Synchronization

extension RGBImage {
    /// Identifies the image by content: the lowercase hex SHA-256 of the width and height as
    /// big-endian `UInt32`s followed by the RGB pixel bytes.
    ///
    /// Two decodes of the same picture (even from different encodings) share a hash exactly when
    /// their pixels match, so caches can key on `(contentHash, preprocessing parameters)`.
    /// Computed on first access (linear in the pixel count) and kept with the image: an image that
    /// the server keeps decoded is hashed once, however often it is sent.
    public var contentHash: String {
        hashMemo.value.withLock { memo in
            if let memo { return memo }
            var hasher = SHA256()
            var header = [UInt8]()
            header.reserveCapacity(8)
            for value in [UInt32(truncatingIfNeeded: width), UInt32(truncatingIfNeeded: height)] {
                header.append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
            }
            hasher.update(data: header)
            hasher.update(data: pixels)
            let hash = hasher.finalize().map { hexDigits[Int($0 >> 4)] + hexDigits[Int($0 & 0xF)] }.joined()
            memo = hash
            return hash
        }
    }
}

/// Where an image's `contentHash` is kept once computed.
final class ContentHashMemo: Sendable {
    let value = Mutex<String?>(nil)
}

private let hexDigits = (0..<16).map { String($0, radix: 16) }
