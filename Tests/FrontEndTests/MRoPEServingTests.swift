import Engine
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import Testing

/// Qwen2-VL (M-RoPE) image prompts through worker processes: prefill workers hand the KV and the
/// prompt's M-RoPE offset to decode workers; outputs are transformers' greedy ids.
@Suite(.serialized, .timeLimit(.minutes(3))) struct MRoPEServingTests {
    /// "encode": encode workers hold only the vision encoder and prefill workers only the language
    /// model; "prefill": the prefill worker loads its vision encoder for the first image it gets.
    @Test(arguments: ["encode", "prefill"])
    func qwen2VLImagePromptsThroughPrefillAndDecodeWorkersMatchTransformers(stages: String) async throws {
        struct Reference: Decodable {
            struct Prompt: Decodable { let text: String; let images: [String]; let greedy_token_ids: [Int] }
            let prompts: [Prompt]
        }
        let model = Support.repository.appendingPathComponent("fixtures/models/qwen2-vl-tiny")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: model.appendingPathComponent("reference.json")))
        let workers = (stages == "encode" ? "      - {role: encode, count: 1}\n" : "") + "      - {role: prefill, count: 1}\n      - {role: decode, count: 1}"
        let frontEnd = try await Support.frontEnd("groups:\n  - group: multimodal\n    workers:\n\(workers)\n", model: model)
        let folder = Support.repository.appendingPathComponent("fixtures/images/good")
        for prompt in reference.prompts {
            let images = try prompt.images.map { try ImageDecoder.decode(contentsOf: folder.appendingPathComponent($0)) }
            let request = InferenceRequest(prompt: .text(prompt.text), images: images, parameters: Support.greedy(prompt.greedy_token_ids.count))
            #expect(try await Support.collect(try frontEnd.submit(request)).ids == prompt.greedy_token_ids, "\(prompt.images)")
        }
        // Every request's KV went from the prefill worker to the decode worker.
        #expect(await Support.eventually { frontEnd.transferTotals().transfers >= reference.prompts.count })
        #expect(await Support.eventually { frontEnd.clusterStatus().allSatisfy { $0.kvUsedTokens == 0 } })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
