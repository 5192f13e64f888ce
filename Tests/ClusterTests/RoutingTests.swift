import CoreUtilities
import Testing
@testable import Cluster

private let slo = LatencySLO(ttft: 1, tpot: 0.1)

private func request(images: [Int], text: Int = 10, hashes: [UInt64]? = nil) -> RequestInfo {
    let list = images.enumerated().map { ImageInput(width: 100, height: 100, tokens: $0.element, id: ImageID(number: hashes?[$0.offset] ?? UInt64($0.offset + 1))) }
    return RequestInfo(id: 0, arrival: 0, textTokens: text, images: list, slo: slo, predictedOutputTokens: 100)
}

@Test func leastPendingImageTokensSpreadsImagesOfOneRequest() {
    let cluster = ClusterSnapshot(instances: [
        InstanceStatus(id: 0, role: .encode, group: .multimodal, pendingImageTokens: 100),
        InstanceStatus(id: 1, role: .encode, group: .multimodal, pendingImageTokens: 0),
        InstanceStatus(id: 2, role: .encode, group: .multimodal, pendingImageTokens: 50),
    ])
    let shards = LeastPendingImageTokensRouter().shards(for: request(images: [200, 200, 200]), candidates: [0, 1, 2], in: cluster)
    #expect(shards.map(\.instance) == [0, 1, 2])
    #expect(shards.allSatisfy { $0.imageIndices.count == 1 && $0.tokens == 200 })
    // A single image goes to the least-pending instance only.
    let one = LeastPendingImageTokensRouter().shards(for: request(images: [300]), candidates: [0, 1, 2], in: cluster)
    #expect(one == [EncodeShard(instance: 1, imageIndices: [0], tokens: 300)])
}

@Test func intraRequestSplitterDealsImagesAcrossWorkers() {
    let cluster = ClusterSnapshot(instances: (0..<4).map { InstanceStatus(id: $0, role: .encode, group: .multimodal, pendingImageTokens: [30, 0, 20, 10][$0]) })
    // Largest first onto the shard with the fewest tokens; shards on the least-loaded workers, images in prompt order.
    let shards = IntraRequestEncodeSplitter(maxShards: 3).shards(for: request(images: [300, 100, 200, 400]), candidates: [0, 1, 2, 3], in: cluster)
    #expect(shards == [EncodeShard(instance: 1, imageIndices: [3], tokens: 400), EncodeShard(instance: 3, imageIndices: [0], tokens: 300),
                       EncodeShard(instance: 2, imageIndices: [1, 2], tokens: 300)])
    // Every image in exactly one shard.
    #expect(shards.flatMap(\.imageIndices).sorted() == [0, 1, 2, 3])
    // Two workers, four images: two shards of two images each.
    let two = IntraRequestEncodeSplitter().shards(for: request(images: [400, 300, 200, 100]), candidates: [0, 1], in: cluster)
    #expect(two == [EncodeShard(instance: 1, imageIndices: [0, 3], tokens: 500), EncodeShard(instance: 0, imageIndices: [1, 2], tokens: 500)])
    // One image is one shard, on the least-loaded worker.
    #expect(IntraRequestEncodeSplitter().shards(for: request(images: [1000]), candidates: [0, 1, 2, 3], in: cluster)
        == [EncodeShard(instance: 1, imageIndices: [0], tokens: 1000)])
    #expect(IntraRequestEncodeSplitter().shards(for: request(images: []), candidates: [0], in: cluster).isEmpty)
}

@Test func modalityRouterPrefersCacheHitsWithinSlack() {
    let instances = [
        InstanceStatus(id: 0, role: .prefill, group: .multimodal, pendingPrefillTokens: 0),
        InstanceStatus(id: 1, role: .prefill, group: .multimodal, pendingPrefillTokens: 1000),
        InstanceStatus(id: 2, role: .prefill, group: .multimodal, pendingPrefillTokens: 50_000),
    ]
    let r = request(images: [500], hashes: [42])
    let hitOnNear = ClusterSnapshot(instances: instances, cachedImages: [1: [ImageID(number: 42)]])
    #expect(ModalityRouter(affinitySlack: 4096).route(r, to: .prefill, candidates: [0, 1, 2], in: hitOnNear) == 1)
    let hitOnFar = ClusterSnapshot(instances: instances, cachedImages: [2: [ImageID(number: 42)]])
    #expect(ModalityRouter(affinitySlack: 4096).route(r, to: .prefill, candidates: [0, 1, 2], in: hitOnFar) == 0)
    #expect(ModalityRouter().route(r, to: .prefill, candidates: [], in: hitOnFar) == nil)
}

@Test func leastLoadedRouterBreaksTiesByLowestId() {
    let cluster = ClusterSnapshot(instances: [
        InstanceStatus(id: 0, role: .decode, group: .multimodal, runningDecodes: 5),
        InstanceStatus(id: 1, role: .decode, group: .multimodal, runningDecodes: 2),
        InstanceStatus(id: 2, role: .decode, group: .multimodal, runningDecodes: 2),
    ])
    #expect(LeastLoadedRouter().route(request(images: []), to: .decode, candidates: [0, 2, 1], in: cluster) == 1)
}
