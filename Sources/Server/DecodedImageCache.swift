import Crypto
import Foundation
import Imaging
import Synchronization

/// Decoded images by the SHA-256 of their encoded bytes, so that an image sent again (the same data
/// URI on every turn of a chat) is not decoded again, as vLLM's multimodal processor cache spares
/// reprocessing. Bounded by pixel bytes; the least recently used image leaves first.
///
/// ```swift
/// let cache = DecodedImageCache(capacityBytes: 64 << 20)
/// let key = DecodedImageCache.Key(data)
/// let image = try cache.image(for: key) ?? cache.insert(ImageDecoder.decode(data), for: key)
/// ```
final class DecodedImageCache: Sendable {
    struct Key: Hashable, Sendable {
        let digest: SHA256Digest
        init(_ encoded: Data) { digest = SHA256.hash(data: encoded) }
    }

    private struct Entry {
        var image: RGBImage
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var uses: UInt64 = 0
    }

    let capacityBytes: Int
    private let state = Mutex(State())

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    func image(for key: Key) -> RGBImage? {
        state.withLock { s in
            guard var entry = s.entries[key] else { return nil }
            s.uses += 1
            entry.lastUse = s.uses
            s.entries[key] = entry
            return entry.image
        }
    }

    /// Keeps `image` (unless it alone exceeds the capacity), evicting the least recently used; returns it.
    @discardableResult
    func insert(_ image: RGBImage, for key: Key) -> RGBImage {
        let size = image.pixels.count
        guard size <= capacityBytes else { return image }
        state.withLock { s in
            s.uses += 1
            if let old = s.entries.updateValue(Entry(image: image, lastUse: s.uses), forKey: key) { s.bytes -= old.image.pixels.count }
            s.bytes += size
            while s.bytes > capacityBytes, let oldest = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                s.entries[oldest.key] = nil
                s.bytes -= oldest.value.image.pixels.count
            }
        }
        return image
    }

    var count: Int { state.withLock { $0.entries.count } }
}
