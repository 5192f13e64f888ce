import Cluster
import CoreUtilities
import Engine
import Foundation
import Imaging
import ServingAPI
import TestFixtures
import Testing
import WireProtocol

/// One image identity along the disaggregated path: the id the handler computes from the bytes is
/// the one the wire carries, the encode engine keys its features on, the prefill engine finds them
/// by (without the pixels) and its KV blocks and image spans name.
@Suite struct ImageIdentityTests {
    @Test func theWireCarriesTheIDAndPixelsOnlyWhereAsked() throws {
        let data = try Data(contentsOf: Fixtures.images.appendingPathComponent("gradient.png"))
        let image = try ImageDecoder.decode(data)
        let other = try Fixtures.images(["tall.png"])[0]
        #expect(image.id == ImageID(encoded: data))
        let (wire, payload) = WireImages.pack([image, other])
        #expect(wire.map(\.id) == [image.id, other.id])
        let unpacked = try WireImages.unpack(wire, payload)
        // The receiver keeps the sender's id; it does not hash the pixels (whose own hash differs).
        #expect(unpacked == [image, other] && unpacked.map(\.id) == [image.id, other.id])
        #expect(unpacked[0].id != (try RGBImage(width: image.width, height: image.height, pixels: image.pixels)).id)
        // Pixels for the second image only: the first is a reference by id and size.
        let (partial, pixels) = WireImages.pack([image, other]) { $0.id == other.id }
        #expect(pixels.count == other.pixels.count)
        let references = try WireImages.references(partial, pixels, pixelsFor: [other.id])
        #expect(references.map(\.id) == [image.id, other.id])
        #expect(references[0].image == nil && references[0].width == image.width && references[0].height == image.height)
        #expect(references[1].image == other)
        #expect(throws: TransportError.self) { try WireImages.references(partial, pixels, pixelsFor: [image.id, other.id]) }
        #expect(throws: TransportError.self) { try WireImages.unpack(partial, pixels) }
    }

    /// E → P → D with the prefill engine given ids and sizes only: the features it pulled are found
    /// by the handler's id, its parked spans and the routing seed name the same id, and the tokens
    /// are transformers'.
    @Test func encodePrefillAndDecodeKeyOnTheHandlersID() async throws {
        func engine(_ parts: ModelParts) throws -> LLMEngine {
            var config = EngineConfig()
            config.blockSize = 4
            config.kvCacheMemoryBytes = 8 << 20
            return try LLMEngine(directory: Fixtures.directory("llava-tiny"), config: config, parts: parts)
        }
        let encoder = try engine(.visionEncoder), prefill = try engine(.languageModel), decode = try engine(.languageModel)
        let prompts = try Fixtures.reference("llava-tiny").prompts
        for prompt in prompts {
            let images = try Fixtures.images(prompt.images)
            let encoded = try await encoder.encodeImages(images).images
            #expect(encoded.map(\.imageID) == images.map(\.id))
            prefill.provideEncoded(encoded)
            encoder.releaseEncoded(encoded.map(\.imageID))
            let references = images.map { ImageReference(id: $0.id, width: $0.width, height: $0.height) }
            let (handle, events) = try prefill.submitPrefill(prompt: prefill.servedModel.tokenizer.encode(prompt.text), images: references)
            _ = try await Fixtures.collect(events)
            let parked = try #require(prefill.parkedPrompt(handle))
            #expect(parked.images.map(\.imageID) == images.map(\.id))
            let kv = Fixtures.parkedKV(handle, positions: parked.tokens.count, of: prefill)
            let out = try await Fixtures.collect(try decode.submitDecode(
                prompt: parked.tokens, imageSpans: parked.images, parameters: Fixtures.greedy(prompt.greedy_token_ids.count), importing: kv))
            #expect(out.ids == prompt.greedy_token_ids, "\(prompt.images)")
        }
        // Every image was found by id in the prefill engine's cache; its vision encoder never loaded.
        let statistics = prefill.statistics()
        #expect(statistics.encoderCacheHits == statistics.encoderCacheQueries && statistics.encoderCacheQueries > 0)
        #expect(!prefill.visionEncoderLoaded)
        // Features that were never provided are an internal failure (retried elsewhere), not the client's error.
        let unknown = ImageReference(id: ImageID(number: 7), width: 48, height: 48)
        let prompt = try #require(prompts.first)
        let (_, failing) = try prefill.submitPrefill(prompt: prefill.servedModel.tokenizer.encode(prompt.text), images: [unknown])
        await #expect(throws: EngineError.self) { _ = try await Fixtures.collect(failing) }
        await encoder.shutdown(gracePeriod: .zero)
        await prefill.shutdown(gracePeriod: .zero)
        await decode.shutdown(gracePeriod: .zero)
    }

    /// Routing's prompt-block seed and the simulator's image inputs name images by the same id.
    @Test func routingSeedsOnTheIDs() throws {
        let images = try Fixtures.images(["gradient.png", "tall.png"])
        let seed = PromptBlockHashes.seed(images: images.map(\.id))
        #expect(seed == PromptBlockHashes.seed(images: try Fixtures.images(["gradient.png", "tall.png"]).map(\.id)))
        #expect(seed != PromptBlockHashes.seed(images: images.reversed().map(\.id)))
        #expect(seed != PromptBlockHashes.seed(images: [images[0].id]))
    }
}
