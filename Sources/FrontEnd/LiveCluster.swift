import Cluster
import CoreUtilities

/// The live cluster as the Cluster policies see it: one ``InstanceStatus`` per worker slot, built
/// from the front end's own bookkeeping (what it has routed where, immediately) and each worker's
/// last heartbeat (KV use, a diffusion worker's cached LoRAs).
struct LiveCluster: ClusterView {
    let now: Double
    let instances: [InstanceStatus]
    let cachedImages: [Int: Set<ImageID>]
    let cachedPrefixes: [Int: PrefixCacheIndex]
    let loras: [Int: Set<String>]

    init(now: Double, slots: [WorkerSlot], predictedDecodeTokens: [Int: Int], cachedImages: [Int: Set<ImageID>], cachedPrefixes: [Int: PrefixCacheIndex]) {
        self.now = now
        self.cachedImages = cachedImages
        self.cachedPrefixes = cachedPrefixes
        loras = Dictionary(uniqueKeysWithValues: slots.compactMap { slot in slot.load.map { (slot.id, Set($0.cachedLoRAs)) } })
        instances = slots.map { slot in
            let pending = slot.assigned.filter { !slot.decoding.contains($0.key) }.values.reduce(0, +)
            let encodes = slot.role == .encode
            return InstanceStatus(
                id: slot.id, role: slot.role, group: slot.group, isActive: slot.isActive, queuedRequests: slot.assigned.count,
                pendingImageTokens: encodes ? pending : 0, pendingPrefillTokens: encodes ? 0 : pending,
                runningDecodes: slot.decoding.count, predictedDecodeTokens: slot.decoding.reduce(0) { $0 + (predictedDecodeTokens[$1] ?? 0) },
                kvUsedTokens: slot.load?.kvUsedTokens ?? 0, kvCapacityTokens: max(1, slot.hello?.kvCapacityTokens ?? 1))
        }
    }

    func hasCached(image: ImageID, on instance: Int) -> Bool {
        cachedImages[instance]?.contains(image) ?? false
    }

    func cachedLoRAs(on instance: Int) -> Set<String> { loras[instance] ?? [] }

    func cachedPrefixTokens(of request: RequestInfo, on instance: Int) -> Int {
        cachedPrefixes[instance]?.cachedTokens(request.promptBlockHashes) ?? 0
    }
}
