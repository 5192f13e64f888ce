import Engine
import Foundation
import Imaging
import ServingAPI
import TestFixtures
import Testing

/// Image prompts prefilled (vision encoding included) on one engine and decoded on another.
@Suite struct MultimodalHandoffTests {
    @Test func llavaThroughPrefillAndDecodeEnginesMatchesTransformers() async throws {
        let prefill = try Fixtures.engine("llava-tiny", blockSize: 4)
        let decode = try Fixtures.engine("llava-tiny", blockSize: 8)
        let prompts = try Fixtures.reference("llava-tiny").prompts
        #expect(!prompts.isEmpty)
        for prompt in prompts {
            let (handle, events) = try prefill.submitPrefill(prompt: prefill.servedModel.tokenizer.encode(prompt.text), images: Fixtures.images(prompt.images).map(ImageReference.init))
            _ = try await Fixtures.collect(events)
            let parked = try #require(prefill.parkedPrompt(handle))
            #expect(parked.images.count == prompt.images.count)
            let kv = Fixtures.parkedKV(handle, positions: parked.tokens.count, of: prefill)
            let out = try await Fixtures.collect(try decode.submitDecode(
                prompt: parked.tokens, imageSpans: parked.images, parameters: Fixtures.greedy(prompt.greedy_token_ids.count), importing: kv))
            #expect(out.ids == prompt.greedy_token_ids, "\(prompt.images)")
        }
        // Nothing pinned: parked KV released, encoder cache entries unpinned, blocks free.
        #expect(await Fixtures.eventually { prefill.parkedCount == 0 && prefill.statistics().kvCacheUsage == 0 })
        await prefill.shutdown(gracePeriod: .zero)
        await decode.shutdown(gracePeriod: .zero)
    }
}
