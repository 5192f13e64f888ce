import CoreUtilities
import Foundation
import Imaging
import Synchronization

/// Decoded images by their ``ImageID`` (the SHA-256 of their encoded bytes), so that an image sent
/// again (the same data URI on every turn of a chat) is not decoded again, as vLLM's multimodal
/// processor cache spares reprocessing. The shared `LRUCache` holds them, its budget counted in pixel bytes.
///
/// ```swift
/// let cache = DecodedImageCache(capacityBytes: 64 << 20)
/// let id = ImageID(encoded: data)
/// let image = try cache.image(for: id) ?? cache.insert(ImageDecoder.decode(data, id: id), for: id)
/// ```
final class DecodedImageCache: Sendable {
    let capacityBytes: Int
    private let lru: Mutex<LRUCache<ImageID, RGBImage>>

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
        lru = Mutex(LRUCache(budget: capacityBytes))
    }

    func image(for id: ImageID) -> RGBImage? {
        lru.withLock { cache in
            defer { cache.release(id) }
            return cache.pin(id)
        }
    }

    /// Keeps `image` (unless it alone exceeds the capacity), evicting the least recently used; returns it.
    @discardableResult
    func insert(_ image: RGBImage, for id: ImageID) -> RGBImage {
        lru.withLock { $0.touch(id, image, cost: image.pixels.count) }
        return image
    }

    var count: Int { lru.withLock { $0.count } }
}
