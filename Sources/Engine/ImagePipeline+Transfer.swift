import CoreUtilities
import Dispatch
import Imaging
import ServingAPI
import Tensor

/// Encoder outputs crossing engines (EPD's E→P transfer): an encode engine encodes and pins
/// features until the prefill engine holding the request confirms it has them; the prefill engine
/// adds them to its own cache, where its normal image path finds them instead of encoding.
extension ImagePipeline {
    /// Encodes `image` (or finds it cached) on the encoder executor, timing its preprocessing and
    /// encoding as `prepare` does; the entry stays pinned until `release`.
    func encodePinned(_ image: RGBImage) throws -> (id: ImageID, features: Matrix, timings: ImageStageTimings) {
        let id = image.id
        return try encodeExecutor.sync { [self] in
            var timings = ImageStageTimings()
            if let cached = cacheLock.withLock({ cache.acquire(id) }) {
                timings.encoderCacheHit = true
                return (id, cached, timings)
            }
            var start = DispatchTime.now()
            let preprocessed = try processor.preprocess(image)
            timings.preprocess = Self.seconds(since: start)
            start = DispatchTime.now()
            let features = try encode(preprocessed)
            timings.encode = Self.seconds(since: start)
            cacheLock.withLock { cache.insert(id, features, cost: features.rows) }
            return (id, features, timings)
        }
    }

    /// Adds features encoded elsewhere, unpinned: the request that needs them pins them on use.
    func provide(id: ImageID, features: Matrix) {
        cacheLock.withLock { cache.touch(id, features, cost: features.rows) }
    }
}
