import CoreUtilities
import Crypto
import Foundation
import Synchronization

extension RGBImage {
    /// The image's identity (``ImageID``). A decoded image carries the SHA-256 of the bytes it was
    /// decoded from (given at decode); an image built from pixels alone is named, on first access,
    /// by the SHA-256 of its width and height as big-endian `UInt32`s followed by its RGB bytes.
    /// Either way it is computed once and kept with the image and its copies.
    public var id: ImageID {
        idMemo.value.withLock { memo in
            if let memo { return memo }
            var hasher = SHA256()
            var header = [UInt8]()
            header.reserveCapacity(8)
            for value in [UInt32(truncatingIfNeeded: width), UInt32(truncatingIfNeeded: height)] {
                header.append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
            }
            hasher.update(data: header)
            hasher.update(data: pixels)
            let id = ImageID(digest: Array(hasher.finalize()))
            memo = id
            return id
        }
    }
}

extension ImageID {
    /// The id of an image that arrives encoded: the SHA-256 of its bytes as received.
    public init(encoded bytes: Data) {
        self.init(digest: Array(SHA256.hash(data: bytes)))
    }
}

/// Where an image's ``RGBImage/id`` is kept once known.
final class ImageIDMemo: Sendable {
    let value: Mutex<ImageID?>

    init(_ id: ImageID? = nil) {
        value = Mutex(id)
    }
}
