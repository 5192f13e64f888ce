import Foundation
import FrontEnd
import ServingAPI
import TestFixtures
import Testing

/// Where an image's time went (preprocessing, encoding, an encoder-cache hit) reaches the front
/// end's finish, which `/metrics` records (`tessera:image_preprocess_seconds`,
/// `tessera:image_encode_seconds`), from whichever worker did the work: the mono worker, the
/// prefill worker under prefill/decode, the encode workers under encode/prefill/decode (where the
/// prefill worker only finds the pulled features in its cache).
@Suite(.serialized, .timeLimit(.minutes(6))) struct ImageTimingsTests {
    static let llava = Support.repository.appendingPathComponent("fixtures/models/llava-tiny")
    static let prompt = "USER: <image>\n<image>\nWhat differs? ASSISTANT:"

    /// The image timings of the finishes of the same two-image request sent twice.
    static func timings(_ topology: String) async throws -> (first: [ImageStageTimings], again: [ImageStageTimings]) {
        let frontEnd = try await Support.frontEnd(topology, model: llava)
        do {
            var finishes: [[ImageStageTimings]] = []
            for _ in 0 ..< 2 {
                let request = InferenceRequest(prompt: .text(prompt), images: try Fixtures.images(["gradient.png", "noisy.jpg"]), parameters: Fixtures.greedy(2))
                let info = try #require(try await Fixtures.collect(try frontEnd.submit(request)).info)
                finishes.append(info.timings.images)
            }
            await frontEnd.shutdown(gracePeriod: .seconds(1))
            return (finishes[0], finishes[1])
        } catch {
            await frontEnd.shutdown(gracePeriod: .seconds(1))
            throw error
        }
    }

    static func example(_ name: String) throws -> String {
        try String(contentsOf: Support.repository.appendingPathComponent("examples/topologies/\(name).yaml"), encoding: .utf8)
    }

    @Test(arguments: ["mono", "pd", "groups-epd"])
    func imageTimingsComeFromTheWorkerThatDidTheWork(topology: String) async throws {
        let (first, again) = try await Self.timings(try Self.example(topology))
        // Both images preprocessed and encoded the first time, by a worker that measured it.
        #expect(first.count == 2)
        for image in first {
            #expect(!image.encoderCacheHit)
            #expect(image.preprocess > 0 && image.encode > 0)
        }
        // The second time both come from the encoder cache of the worker that encoded them.
        #expect(again.count == 2)
        #expect(again.allSatisfy { $0.encoderCacheHit && $0.encode == 0 && $0.preprocess == 0 })
    }
}
