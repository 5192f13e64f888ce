import Engine
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import TestFixtures
import Testing

/// Qwen2-VL (M-RoPE) image prompts through worker processes: prefill workers hand the KV and the
/// prompt's M-RoPE offset to decode workers; outputs are transformers' greedy ids.
@Suite(.serialized, .timeLimit(.minutes(3))) struct MRoPEServingTests {
    /// "encode": encode workers hold only the vision encoder and prefill workers only the language
    /// model; "prefill": the prefill worker loads its vision encoder for the first image it gets.
    @Test(arguments: ["encode", "prefill"])
    func qwen2VLImagePromptsThroughPrefillAndDecodeWorkersMatchTransformers(stages: String) async throws {
        let model = Support.repository.appendingPathComponent("fixtures/models/qwen2-vl-tiny")
        let prompts = try Support.referencePrompts(model)
        let workers = (stages == "encode" ? "      - {role: encode, count: 1}\n" : "") + "      - {role: prefill, count: 1}\n      - {role: decode, count: 1}"
        let frontEnd = try await Support.frontEnd("groups:\n  - group: multimodal\n    workers:\n\(workers)\n", model: model)
        for prompt in prompts {
            #expect(try await Fixtures.collect(try frontEnd.submit(prompt.request)).ids == prompt.expected, "\(prompt.imageNames)")
        }
        // Every request's KV went from the prefill worker to the decode worker.
        #expect(await Fixtures.eventually { frontEnd.transferTotals().transfers >= prompts.count })
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.kvUsedTokens == 0 } })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
