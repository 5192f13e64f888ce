import CoreUtilities
import Crypto
import Foundation
import Imaging
import Synchronization

/// Decoded images by the SHA-256 of their encoded bytes, so that an image sent again (the same data
/// URI on every turn of a chat) is not decoded again, as vLLM's multimodal processor cache spares
/// reprocessing. The shared `LRUCache` holds them, its budget counted in pixel bytes.
///
/// ```swift
/// let cache = DecodedImageCache(capacityBytes: 64 << 20)
/// let key = DecodedImageCache.Key(data)
/// let image = try cache.image(for: key) ?? cache.insert(ImageDecoder.decode(data), for: key)
/// ```
final class DecodedImageCache: Sendable {
    struct Key: Hashable, Sendable {
        let id: String
        init(_ encoded: Data) { id = Data(SHA256.hash(data: encoded)).base64EncodedString() }
    }

    let capacityBytes: Int
    private let lru: Mutex<LRUCache<String, RGBImage>>

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
        lru = Mutex(LRUCache(budget: capacityBytes))
    }

    func image(for key: Key) -> RGBImage? {
        lru.withLock { cache in
            defer { cache.release(key.id) }
            return cache.pin(key.id)
        }
    }

    /// Keeps `image` (unless it alone exceeds the capacity), evicting the least recently used; returns it.
    @discardableResult
    func insert(_ image: RGBImage, for key: Key) -> RGBImage {
        lru.withLock { $0.touch(key.id, image, cost: image.pixels.count) }
        return image
    }

    var count: Int { lru.withLock { $0.count } }
}
