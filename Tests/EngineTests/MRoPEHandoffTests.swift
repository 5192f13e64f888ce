import Foundation
import Imaging
import ServingAPI
import TestFixtures
import Testing
@testable import Engine

/// Qwen2-VL (M-RoPE) image prompts prefilled on one engine and decoded on another: the decode
/// engine continues at the positions the prompt's `rope_deltas` sets, so greedy tokens equal the
/// single engine's and transformers'.
@Suite struct MRoPEHandoffTests {
    static let model = "qwen2-vl-tiny"

    static func engine(blockSize: Int, parts: ModelParts = .all) throws -> LLMEngine {
        var config = EngineConfig()
        config.blockSize = blockSize
        config.kvCacheMemoryBytes = 8 << 20
        return try LLMEngine(directory: Fixtures.directory(model), config: config, parts: parts)
    }

    static func tokens(_ stream: AsyncThrowingStream<InferenceEvent, any Error>) async throws -> [Int] {
        var ids: [Int] = []
        for try await case let .delta(delta) in stream { ids += delta.tokenIds }
        return ids
    }

    /// Prefills `prompt` on `prefill` and returns its parked prompt and KV (released there).
    static func prefill(_ prompt: Fixtures.Reference.Prompt, on prefill: LLMEngine) async throws
        -> (tokens: [Int], spans: [ImageSpan], delta: Int?, kv: (KVLayout, Range<Int>, UnsafeMutableRawPointer, Int))
    {
        let (handle, events) = try prefill.submitPrefill(prompt: prefill.servedModel.tokenizer.encode(prompt.text), images: Fixtures.images(prompt.images).map(ImageReference.init))
        _ = try await tokens(events)
        let parked = try #require(prefill.parkedPrompt(handle))
        let bytes = prefill.kvLayout.byteCount(positions: parked.tokens.count)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        #expect(prefill.copyParkedKV(handle, to: memory))
        prefill.releaseParkedKV(handle)
        return (parked.tokens, parked.images, parked.mropeDelta, (prefill.kvLayout, 0 ..< parked.tokens.count, memory, bytes))
    }

    static func decode(_ tokens: [Int], spans: [ImageSpan], delta: Int?, kv: (KVLayout, Range<Int>, UnsafeMutableRawPointer, Int),
                       count: Int, on engine: LLMEngine) async throws -> [Int] {
        let (layout, positions, memory, bytes) = kv
        let buffer = KVBuffer(layout: layout, positions: positions, base: memory, byteCount: bytes, mropeDelta: delta) {}
        return try await Self.tokens(try engine.submitDecode(prompt: tokens, imageSpans: spans, parameters: Fixtures.greedy(count), importing: buffer))
    }

    @Test func imagePromptsThroughPrefillAndDecodeMatchMonoAndTransformers() async throws {
        let mono = try Self.engine(blockSize: 16)
        // Prefill and decode load only the language model, as their workers do; the prefill engine
        // loads the vision encoder when the first image needs it.
        let prefill = try Self.engine(blockSize: 4, parts: .languageModel), decode = try Self.engine(blockSize: 8, parts: .languageModel)
        #expect(!prefill.visionEncoderLoaded && !decode.visionEncoderLoaded)
        let reference = try Fixtures.reference(Self.model)
        #expect(reference.prompts.contains { $0.images.count > 1 })
        var deltas: Set<Int> = []
        var divergedWithoutDelta = false
        for prompt in reference.prompts {
            let request = InferenceRequest(prompt: .text(prompt.text), images: try Fixtures.images(prompt.images),
                                           parameters: Fixtures.greedy(prompt.greedy_token_ids.count))
            #expect(try await Self.tokens(try mono.submit(request)) == prompt.greedy_token_ids, "mono \(prompt.images)")

            let parked = try await Self.prefill(prompt, on: prefill)
            defer { parked.kv.2.deallocate() }
            let delta = try #require(parked.delta)
            deltas.insert(delta)
            let out = try await Self.decode(parked.tokens, spans: parked.spans, delta: delta, kv: parked.kv,
                                            count: prompt.greedy_token_ids.count, on: decode)
            #expect(out == prompt.greedy_token_ids, "\(prompt.images)")
            // The offset matters: continuing at plain 1-D positions goes elsewhere for some prompt.
            let plain = try await Self.decode(parked.tokens, spans: parked.spans, delta: 0, kv: parked.kv,
                                              count: prompt.greedy_token_ids.count, on: decode)
            divergedWithoutDelta = divergedWithoutDelta || plain != prompt.greedy_token_ids
        }
        #expect(deltas.contains { $0 != 0 } && divergedWithoutDelta)
        #expect(prefill.visionEncoderLoaded && !decode.visionEncoderLoaded)
        #expect(prefill.parkedCount == 0)
        for engine in [mono, prefill, decode] { await engine.shutdown(gracePeriod: .zero) }
    }

    /// A decode engine refuses an M-RoPE image prompt whose offset did not come with its KV, and an
    /// offset for a model with 1-D positions, instead of generating from wrong positions.
    @Test func missingOrMisplacedOffsetsAreRefused() async throws {
        let prefill = try Self.engine(blockSize: 4), decode = try Self.engine(blockSize: 4, parts: .languageModel)
        let prompt = try #require(try Fixtures.reference(Self.model).prompts.first)
        let parked = try await Self.prefill(prompt, on: prefill)
        defer { parked.kv.2.deallocate() }
        await #expect(throws: EngineError.self) {
            _ = try await Self.decode(parked.tokens, spans: parked.spans, delta: nil, kv: parked.kv, count: 4, on: decode)
        }
        var config = EngineConfig()
        config.kvCacheMemoryBytes = 8 << 20
        let llava = try LLMEngine(directory: Fixtures.directory("llava-tiny"), config: config, parts: .languageModel)
        let bytes = llava.kvLayout.byteCount(positions: 3)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let kv = KVBuffer(layout: llava.kvLayout, positions: 0 ..< 3, base: memory, byteCount: bytes, mropeDelta: -2) { memory.deallocate() }
        #expect(throws: EngineError.self) {
            try llava.submitDecode(prompt: [1, 2, 3, 4], parameters: Fixtures.greedy(2), importing: kv)
        }
        for engine in [prefill, decode, llava] { await engine.shutdown(gracePeriod: .zero) }
    }
}
