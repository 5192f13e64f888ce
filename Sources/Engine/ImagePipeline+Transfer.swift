import CoreUtilities
import Imaging
import Tensor

/// Encoder outputs crossing engines (EPD's E→P transfer): an encode engine encodes and pins
/// features until the prefill engine holding the request confirms it has them; the prefill engine
/// adds them to its own cache, where its normal image path finds them instead of encoding.
extension ImagePipeline {
    /// Encodes `image` (or finds it cached) on the encoder executor; the entry stays pinned until `release`.
    func encodePinned(_ image: RGBImage) throws -> (id: ImageID, features: Matrix) {
        let id = image.id
        return try encodeExecutor.sync { [self] in
            if let cached = cacheLock.withLock({ cache.acquire(id) }) { return (id, cached) }
            let features = try encode(processor.preprocess(image))
            cacheLock.withLock { cache.insert(id, features, cost: features.rows) }
            return (id, features)
        }
    }

    /// Adds features encoded elsewhere, unpinned: the request that needs them pins them on use.
    func provide(id: ImageID, features: Matrix) {
        cacheLock.withLock { cache.touch(id, features, cost: features.rows) }
    }
}
