import Engine
import Foundation
import ServingAPI
import TestFixtures
import Testing

/// Prefill on one engine, decode on another with the KV handed over, against transformers' greedy references.
@Suite struct KVHandoffTests {
    /// Parks the prompt's KV on `prefill` and copies it out in the flat layout.
    static func handOff(_ prompt: [Int], from prefill: LLMEngine) async throws -> KVBuffer {
        let (handle, events) = try prefill.submitPrefill(prompt: prompt)
        let done = try await Fixtures.collect(events)
        #expect(done.ids.isEmpty && done.info?.completionTokens == 0)
        let positions = try #require(prefill.parkedPositions(handle))
        #expect(positions == 0 ..< prompt.count)
        return Fixtures.parkedKV(handle, positions: positions.count, of: prefill)
    }

    @Test(arguments: ["llama-gqa", "qwen2-tied", "llama-sp"])
    func decodeFromHandedOverKVMatchesTransformers(model: String) async throws {
        let prefill = try Fixtures.engine(model, blockSize: 16)
        // Another block size on the decode side: the flat layout does not depend on it.
        let decode = try Fixtures.engine(model, blockSize: 8)
        for case_ in try Fixtures.reference(model).prompts {
            let kv = try await Self.handOff(case_.prompt_token_ids, from: prefill)
            let out = try await Fixtures.collect(try decode.submitDecode(
                prompt: case_.prompt_token_ids, parameters: Fixtures.greedy(case_.greedy_token_ids.count, logprobs: 1), importing: kv))
            #expect(out.ids == case_.greedy_token_ids)
            for (got, want) in zip(out.logprobs, case_.top_logprobs.map { $0[0].logprob }) { #expect(abs(got - want) < 1e-3) }
            #expect(out.info?.promptTokens == case_.prompt_token_ids.count)
        }
        #expect(await Fixtures.eventually { prefill.parkedCount == 0 && prefill.statistics().kvCacheUsage == 0 })
        #expect(await Fixtures.eventually { decode.statistics().kvCacheUsage == 0 })
        await prefill.shutdown(gracePeriod: .zero)
        await decode.shutdown(gracePeriod: .zero)
    }

    /// The imported KV must be what the decode engine reads: garbage in the buffer changes the output.
    @Test func decodeUsesTheImportedKV() async throws {
        let prefill = try Fixtures.engine("llama-gqa")
        let decode = try Fixtures.engine("llama-gqa")
        let case_ = try Fixtures.reference("llama-gqa").prompts[1]
        let kv = try await Self.handOff(case_.prompt_token_ids, from: prefill)
        let floats = kv.byteCount / 4
        let noisy = UnsafeMutablePointer<Float>.allocate(capacity: floats)
        noisy.initialize(from: kv.base.assumingMemoryBound(to: Float.self), count: floats)
        for i in 0 ..< floats { noisy[i] = noisy[i] * -3 + 1 }
        let corrupted = KVBuffer(layout: kv.layout, positions: kv.positions, base: noisy, byteCount: kv.byteCount) { noisy.deallocate() }
        let out = try await Fixtures.collect(try decode.submitDecode(
            prompt: case_.prompt_token_ids, parameters: Fixtures.greedy(case_.greedy_token_ids.count), importing: corrupted))
        #expect(out.ids != case_.greedy_token_ids)
        await prefill.shutdown(gracePeriod: .zero)
        await decode.shutdown(gracePeriod: .zero)
    }

    /// A buffer of another model's layout is ignored and the prompt computed locally: same tokens.
    @Test func mismatchedLayoutFallsBackToLocalPrefill() async throws {
        let decode = try Fixtures.engine("llama-gqa")
        let case_ = try Fixtures.reference("llama-gqa").prompts[0]
        let layout = KVLayout(layers: decode.kvLayout.layers + 1, rowWidth: decode.kvLayout.rowWidth)
        let n = case_.prompt_token_ids.count - 1
        let bytes = layout.byteCount(positions: n)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        let kv = KVBuffer(layout: layout, positions: 0 ..< n, base: memory, byteCount: bytes) { memory.deallocate() }
        #expect(try await Fixtures.collect(try decode.submitDecode(
            prompt: case_.prompt_token_ids, parameters: Fixtures.greedy(case_.greedy_token_ids.count), importing: kv)).ids == case_.greedy_token_ids)
        await decode.shutdown(gracePeriod: .zero)
    }

    /// A parked KV stays pinned until released, and an unknown handle copies nothing.
    @Test func parkedKVIsPinnedUntilReleased() async throws {
        let prefill = try Fixtures.engine("llama-gqa")
        let prompt = try Fixtures.reference("llama-gqa").prompts[1].prompt_token_ids
        let (handle, events) = try prefill.submitPrefill(prompt: prompt)
        _ = try await Fixtures.collect(events)
        #expect(prefill.parkedCount == 1)
        #expect(await Fixtures.eventually { prefill.statistics().kvCacheUsage > 0 })
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: prefill.kvLayout.byteCount(positions: prompt.count), alignment: 64)
        defer { scratch.deallocate() }
        #expect(!prefill.copyParkedKV(handle + 1000, to: scratch))
        prefill.releaseParkedKV(handle)
        #expect(await Fixtures.eventually { prefill.parkedCount == 0 && prefill.statistics().kvCacheUsage == 0 })
        #expect(prefill.parkedPositions(handle) == nil)
        await prefill.shutdown(gracePeriod: .zero)
    }
}
