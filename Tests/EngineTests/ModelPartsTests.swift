import Foundation
import Imaging
import ServingAPI
import TestFixtures
import Testing
@testable import Engine

/// Engines that load part of a vision-language model, as disaggregated workers do: an encode
/// engine (vision encoder only) encodes exactly what a full engine does and runs no language
/// model; a prefill engine without the vision encoder takes features encoded elsewhere.
@Suite struct ModelPartsTests {
    static func engine(_ model: String, parts: ModelParts) throws -> LLMEngine {
        var config = EngineConfig()
        config.blockSize = 4
        config.kvCacheMemoryBytes = 8 << 20
        return try LLMEngine(directory: Fixtures.directory(model), config: config, parts: parts)
    }

    @Test(arguments: ["llava-tiny", "qwen2-vl-tiny"])
    func encodeEngineMatchesTheFullEngine(model: String) async throws {
        let full = try Self.engine(model, parts: .all), encoder = try Self.engine(model, parts: .visionEncoder)
        #expect(encoder.language == nil && full.language != nil && encoder.visionEncoderLoaded)
        #expect(encoder.kvLayout == full.kvLayout && encoder.promptLimits.vocabSize == full.promptLimits.vocabSize)
        #expect(encoder.servedModel.imagePlaceholder == full.servedModel.imagePlaceholder)
        let images = try Fixtures.images(["gradient.png", "tall.png"])
        let expected = try await full.encodeImages(images).images, actual = try await encoder.encodeImages(images).images
        #expect(actual.map(\.imageID) == expected.map(\.imageID))
        #expect(actual.map { $0.features.map(\.bitPattern) } == expected.map { $0.features.map(\.bitPattern) })
        #expect(encoder.statistics().encoderCacheQueries == 2)
        // No language model: generation is refused at once.
        #expect(throws: EngineError.self) { try encoder.submit(InferenceRequest(prompt: .tokens([1, 2]), parameters: Fixtures.greedy(2))) }
        #expect(throws: EngineError.self) { try encoder.submitPrefill(prompt: [1, 2]) }
        await full.shutdown(gracePeriod: .zero)
        await encoder.shutdown(gracePeriod: .zero)
    }

    /// E→P: features from an encode engine let a prefill engine without the vision encoder serve
    /// image prompts as transformers does, never loading the encoder.
    @Test func prefillEngineUsesProvidedFeaturesWithoutItsEncoder() async throws {
        let model = "llava-tiny"
        let encoder = try Self.engine(model, parts: .visionEncoder), generator = try Self.engine(model, parts: .languageModel)
        for prompt in try Fixtures.reference(model).prompts {
            let images = try Fixtures.images(prompt.images)
            generator.provideEncoded(try await encoder.encodeImages(images).images)
            let request = InferenceRequest(prompt: .text(prompt.text), images: images, parameters: Fixtures.greedy(prompt.greedy_token_ids.count))
            #expect(try await MRoPEHandoffTests.tokens(try generator.submit(request)) == prompt.greedy_token_ids, "\(prompt.images)")
        }
        #expect(!generator.visionEncoderLoaded)
        #expect(generator.statistics().encoderCacheHits == generator.statistics().encoderCacheQueries)
        await encoder.shutdown(gracePeriod: .zero)
        await generator.shutdown(gracePeriod: .zero)
    }

    /// An encode worker of a text model still serves text, as it did before parts existed.
    @Test func textModelsAlwaysLoadTheirLanguageModel() async throws {
        let engine = try Self.engine("llama-gqa", parts: .visionEncoder)
        #expect(engine.parts == .languageModel && engine.language != nil)
        #expect(try await MRoPEHandoffTests.tokens(try engine.submit(InferenceRequest(prompt: .tokens([1, 2, 3]), parameters: Fixtures.greedy(3)))).count == 3)
        await engine.shutdown(gracePeriod: .zero)
    }
}
