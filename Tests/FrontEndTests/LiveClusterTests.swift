import CoreUtilities
import Cluster
import Foundation
import ServingAPI
import Testing
import WireProtocol
@testable import FrontEnd
@testable import Workers

/// The live cluster view the policies decide on: built from the front end's bookkeeping.
@Suite struct LiveClusterTests {
    func slot(_ id: Int, _ role: InstanceRole, assigned: [Int: Int] = [:], decoding: Set<Int> = []) -> WorkerSlot {
        var slot = WorkerSlot(id: id, role: role, group: .multimodal, spec: InstanceSpec(slot: id, role: role, group: .multimodal, arguments: []))
        slot.phase = .active
        slot.connection = try? Connection.connect(to: .tcp(host: "127.0.0.1", port: LiveClusterTests.port))
        slot.assigned = assigned
        slot.decoding = decoding
        return slot
    }

    static let listener = try! Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
    static var port: Int {
        guard case let .tcp(_, port) = listener.endpoint else { return 0 }
        return port
    }

    @Test func statusCountsWhatTheFrontEndRoutedWhere() {
        var request = RequestInfo(id: 9, arrival: 1, textTokens: 40, images: [], slo: LatencySLO(ttft: 1, tpot: 1), predictedOutputTokens: 8)
        request.promptBlockHashes = PromptBlockHashes.chain(tokens: Array(0 ..< 40), blockSize: 16)
        var prefix = PrefixCacheIndex(capacityBlocks: 8, blockSize: 16)
        prefix.record(Array(request.promptBlockHashes.prefix(1)))
        let view = LiveCluster(now: 1, slots: [
            slot(0, .encode, assigned: [7: 576]), slot(1, .prefill, assigned: [7: 40, 8: 10]),
            slot(2, .decode, assigned: [5: 30, 6: 12], decoding: [5, 6]),
        ], predictedDecodeTokens: [5: 20, 6: 3, 7: 100], cachedImages: [1: [ImageID(number: 42)]], cachedPrefixes: [1: prefix])
        #expect(view.instances.map(\.pendingImageTokens) == [576, 0, 0])
        #expect(view.instances.map(\.pendingPrefillTokens) == [0, 50, 0])
        #expect(view.instances.map(\.runningDecodes) == [0, 0, 2])
        // Predicted decode tokens count the requests decoding there only.
        #expect(view.instances.map(\.predictedDecodeTokens) == [0, 0, 23])
        #expect(view.instances.map(\.queuedRequests) == [1, 2, 2])
        #expect(view.instances.allSatisfy { $0.isActive })
        #expect(view.hasCached(image: ImageID(number: 42), on: 1) && !view.hasCached(image: ImageID(number: 42), on: 0))
        #expect(view.cachedPrefixTokens(of: request, on: 1) == 16 && view.cachedPrefixTokens(of: request, on: 0) == 0)
    }

    /// ElasticMM's router on the live view: the prefill worker that already holds the image wins
    /// over an idle one while its extra load is within the slack, and loses beyond it.
    @Test func modalityRouterFollowsTheImageCache() {
        let request = RequestInfo(id: 9, arrival: 1, textTokens: 20, images: [ImageInput(width: 8, height: 8, tokens: 1, id: ImageID(number: 42))],
                                  slo: LatencySLO(ttft: 1, tpot: 1), predictedOutputTokens: 8)
        let near = LiveCluster(now: 1, slots: [slot(0, .prefill), slot(1, .prefill, assigned: [3: 100])], predictedDecodeTokens: [:], cachedImages: [1: [ImageID(number: 42)]], cachedPrefixes: [:])
        #expect(ModalityRouter().route(request, to: .prefill, candidates: [0, 1], in: near) == 1)
        let far = LiveCluster(now: 1, slots: [slot(0, .prefill), slot(1, .prefill, assigned: [3: 10_000])], predictedDecodeTokens: [:], cachedImages: [1: [ImageID(number: 42)]], cachedPrefixes: [:])
        #expect(ModalityRouter().route(request, to: .prefill, candidates: [0, 1], in: far) == 0)
    }

    /// Adapter-affine image routing on the live view: the LoRA names an image worker's last heartbeat
    /// reported are its cache; the worker holding the image's LoRA wins within the imbalance bound.
    @Test func adapterAffinityReadsTheWorkersHeartbeats() {
        func worker(_ id: Int, queued: Int, loras: [String]) -> WorkerSlot {
            var s = slot(id, .image, assigned: Dictionary(uniqueKeysWithValues: (0 ..< queued).map { (100 * id + $0, 0) }))
            var load = WorkerLoad(role: .image, statistics: EngineStatistics())
            load.cachedLoRAs = loras
            s.load = load
            return s
        }
        let image = ImageRequestInfo(id: 1, arrival: 1, generation: ImageGeneration(steps: 4, width: 64, height: 64, loras: ["watercolor"]))
        let near = LiveCluster(now: 1, slots: [worker(0, queued: 0, loras: []), worker(1, queued: 2, loras: ["watercolor"])],
                               predictedDecodeTokens: [:], cachedImages: [:], cachedPrefixes: [:])
        #expect(near.cachedLoRAs(on: 1) == ["watercolor"] && near.imageWorkers == [0, 1])
        #expect(AdapterAffinityRouter().route(image, candidates: near.imageWorkers, splitGuidance: false, in: near)?.worker == 1)
        let far = LiveCluster(now: 1, slots: [worker(0, queued: 0, loras: []), worker(1, queued: 3, loras: ["watercolor"])],
                              predictedDecodeTokens: [:], cachedImages: [:], cachedPrefixes: [:])
        #expect(AdapterAffinityRouter().route(image, candidates: far.imageWorkers, splitGuidance: false, in: far)?.worker == 0)
    }
}
