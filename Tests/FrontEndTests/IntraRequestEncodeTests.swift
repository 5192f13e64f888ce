import Cluster
import CoreUtilities
import Engine
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import TestFixtures
import Testing

/// EPD's intra-request parallel encoding through worker processes: a request's images are dealt
/// to the encode workers by ``IntraRequestEncodeSplitter``, the prefill worker pulls every shard's
/// features by the images' ids (it gets no pixels) and merges them in the prompt's order.
@Suite(.serialized, .timeLimit(.minutes(4))) struct IntraRequestEncodeTests {
    static let names = ["gradient.png", "noisy.jpg", "tall.png", "rgba.png"]
    static let prompt = "USER: <image>\n<image>\n<image>\n<image>\nCompare the four pictures. ASSISTANT:"

    static func images() throws -> [RGBImage] {
        try Fixtures.images(names)
    }

    /// Greedy tokens of the four-image request with `encoders` encode workers, and what the front end saw.
    static func serve(encoders: Int) async throws -> (tokens: [Int], encodersSending: Int, prefillImages: Set<ImageID>, prefillCache: (Int, Int)) {
        let topology = """
            encodeDispatcher: intra-request
            groups:
              - group: multimodal
                workers:
                  - {role: encode, count: \(encoders)}
                  - {role: prefill, count: 1}
                  - {role: decode, count: 1}
            """
        let frontEnd = try await Support.frontEnd(topology, model: Support.llava)
        let request = InferenceRequest(prompt: .text(prompt), images: try images(), parameters: Fixtures.greedy(12))
        let tokens = try await Fixtures.collect(try frontEnd.submit(request)).ids
        let status = frontEnd.clusterStatus()
        let prefill = try #require(status.first { $0.role == .prefill }?.id)
        let encodeSlots = status.filter { $0.role == .encode }.map(\.id)
        // Heartbeats carry the counters; wait until every worker's are reported.
        _ = await Fixtures.eventually { frontEnd.encoderCacheCounters(slot: prefill).queries == names.count }
        func sending() -> Int { encodeSlots.filter { frontEnd.transferTotals(slot: $0).bytesSent > 0 }.count }
        _ = await Fixtures.eventually { sending() == encoders }
        let result = (tokens, sending(), frontEnd.cachedImages(slot: prefill), frontEnd.encoderCacheCounters(slot: prefill))
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        return result
    }

    @Test func fourImagesOverTwoEncodeWorkersGiveOneWorkersTokens() async throws {
        let ids = Set(try Self.images().map(\.id))
        let one = try await Self.serve(encoders: 1)
        let two = try await Self.serve(encoders: 2)
        #expect(one.tokens.count == 12)
        #expect(two.tokens == one.tokens)
        // Both encode workers sent features under two, one under one.
        #expect(one.encodersSending == 1 && two.encodersSending == 2)
        // The prefill worker found all four images by the handler's ids, none encoded there.
        #expect(one.prefillImages == ids && two.prefillImages == ids)
        #expect(one.prefillCache == (4, 4) && two.prefillCache == (4, 4))
        // The single-process engine gives the same tokens.
        var config = EngineConfig()
        config.kvCacheMemoryBytes = 32 << 20
        let engine = try LLMEngine(directory: Support.llava, config: config)
        let single = try await Fixtures.collect(try engine.submit(
            InferenceRequest(prompt: .text(Self.prompt), images: try Self.images(), parameters: Fixtures.greedy(12)))).ids
        await engine.shutdown(gracePeriod: .zero)
        #expect(single == one.tokens)
    }
}
