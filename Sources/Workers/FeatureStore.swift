import CoreUtilities
import Engine
import Foundation
import Synchronization

/// An encode worker's features waiting for prefill workers: one entry per content id with a use
/// count (one per request that needs it); each use stays pinned in the engine's encoder cache until
/// a prefill worker confirms the pull, or until `timeout` passes.
final class FeatureStore: Sendable {
    private let engine: LLMEngine
    private let timeout: Double
    private let entries = Mutex<[ImageID: (image: EncodedImage, uses: Int, since: ContinuousClock.Instant)]>([:])

    init(engine: LLMEngine, timeout: Double) {
        self.engine = engine
        self.timeout = timeout
    }

    func hold(_ images: [EncodedImage]) {
        entries.withLock { map in
            for image in images {
                let uses = (map[image.imageID]?.uses ?? 0) + 1
                map[image.imageID] = (image, uses, .now)
            }
        }
    }

    func lookup(_ ids: [ImageID]) -> (found: [EncodedImage], missing: [ImageID]) {
        entries.withLock { map in
            (ids.compactMap { map[$0]?.image }, ids.filter { map[$0] == nil })
        }
    }

    /// One use of each id is done: unpin it.
    func release(_ ids: [ImageID]) {
        let released = entries.withLock { map in
            ids.filter { id in
                guard var entry = map[id] else { return false }
                entry.uses -= 1
                map[id] = entry.uses > 0 ? entry : nil
                return true
            }
        }
        engine.releaseEncoded(released)
    }

    func expire() {
        let now = ContinuousClock.now
        let stale = entries.withLock { map in
            map.filter { now - $0.value.since > .seconds(timeout) }.flatMap { Array(repeating: $0.key, count: $0.value.uses) }
        }
        for id in stale { release([id]) }
    }

    var count: Int { entries.withLock { $0.count } }
}
