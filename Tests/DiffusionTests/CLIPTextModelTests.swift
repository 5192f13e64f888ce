import Foundation
import Models
import Tensor
import Testing
import Tokenizers

/// Each fixture folder's text encoders against transformers (fixtures/diffusion/text-encoders,
/// float32 references; the sd2 encoder is stored in float16 and SDXL's second in bfloat16, both
/// widened exactly, so every case meets the same tolerance).
@Suite("CLIP text encoder parity")
struct CLIPTextModelTests {
    static let cases = [("sd1-tiny", "text_encoder", "tokenizer"), ("sd2-tiny", "text_encoder", "tokenizer"),
                        ("sdxl-tiny", "text_encoder", "tokenizer"), ("sdxl-tiny", "text_encoder_2", "tokenizer_2")]

    @Test(arguments: cases)
    func matchesTransformers(model: String, encoder: String, tokenizerFolder: String) throws {
        let folder = Fixtures.diffusion.appendingPathComponent(model)
        let reference = try SafetensorsFile(url: Fixtures.diffusion.appendingPathComponent("text-encoders/\(model)-\(encoder).safetensors"))
        let promptsJSON = try #require(reference.metadata["prompts"])
        let prompts = try #require(try JSONSerialization.jsonObject(with: Data(promptsJSON.utf8)) as? [String])
        let tokenizer = try CLIPTokenizer.load(directory: folder.appendingPathComponent(tokenizerFolder))
        let network = try CLIPTextModel(directory: folder.appendingPathComponent(encoder))
        var worst: Float = 0
        for (index, prompt) in prompts.enumerated() {
            let idsInfo = try reference.info("\(index).input_ids")
            let expectedIds = (0 ..< idsInfo.shape[0]).map {
                Int(reference.pointer(for: idsInfo).load(fromByteOffset: $0 * 8, as: Int64.self))
            }
            let ids = tokenizer.encodePadded(prompt)
            #expect(ids == expectedIds, "\(model)/\(tokenizerFolder): \(prompt.debugDescription)")
            let output = try network.encode(ids)
            func check(_ ours: [Float], _ name: String) throws {
                let difference = maxAbsDifference(ours, try reference.floats("\(index).\(name)"))
                worst = max(worst, difference)
                #expect(difference <= 2e-5, "\(model)/\(encoder) \(name) \(prompt.debugDescription): \(difference)")
            }
            try check(output.lastHiddenState.toArray(), "last_hidden_state")
            try check(output.penultimateHiddenState.toArray(), "penultimate_hidden_state")
            if let projected = output.projected {
                try check(projected, "text_embeds")
            } else {
                try check(output.pooled, "pooler_output")
            }
        }
        print("\(model)/\(encoder): max abs difference \(worst)")
    }

    @Test func refusesBadIds() throws {
        let network = try CLIPTextModel(directory: Fixtures.diffusion.appendingPathComponent("sd1-tiny/text_encoder"))
        #expect(throws: ForwardError.self) { try network.encode([]) }
        #expect(throws: ForwardError.self) { try network.encode(Array(repeating: 1, count: 78)) }
        #expect(throws: ForwardError.self) { try network.encode([1, 100_000]) }
    }

    @Test func namesMissingTensors() throws {
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("clip-broken-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: broken) }
        try FileManager.default.copyItem(at: Fixtures.diffusion.appendingPathComponent("sd1-tiny/text_encoder/config.json"),
                                         to: broken.appendingPathComponent("config.json"))
        #expect(throws: ModelLoadingError.self) { try CLIPTextModel(directory: broken) }
    }
}
