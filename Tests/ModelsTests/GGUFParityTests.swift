import Foundation
import Testing
@testable import Models
import Tensor
import Tokenizers

/// The GGUF fixtures of scripts/fixtures/gguf_fixtures.py: converted F32 files against the
/// transformers references of the safetensors originals, quantized files against llama.cpp's
/// outputs on the same file (fixtures/gguf/references.json).
struct GGUFParityTests {
    static let root = Fixtures.root.deletingLastPathComponent().appendingPathComponent("gguf")
    static func file(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// F32 GGUF logits against transformers on the safetensors model: the same numbers, up to the
    /// float32 rounding the safetensors path already has (float GGUF files attend in float32;
    /// quantized ones in float16, as llama.cpp does).
    @Test(arguments: Fixtures.names)
    func f32LogitsMatchTransformers(fixture: String) throws {
        let model = try ModelLoader.load(directory: Self.file("\(fixture).f32.gguf"))
        let original = try ModelLoader.load(directory: Fixtures.directory(fixture))
        #expect(model.config.numLayers == original.config.numLayers && model.config.headDim == original.config.headDim)
        #expect(model.config.tieWordEmbeddings == original.config.tieWordEmbeddings)
        for prompt in try loadReference(fixture) {
            let cache = model.makeCache(capacity: prompt.tokenIds.count)
            let logits = try model.forward(prompt.tokenIds, cache: cache, allLogits: true)
            #expect(maxAbsDifference(logits, prompt.logits) < 1e-4, "\(fixture)")
        }
    }

    /// The tokenizer read from GGUF metadata gives the ids of the original tokenizer.json and of llama.cpp.
    @Test(arguments: Fixtures.names)
    func tokenizerMatchesOriginal(fixture: String) throws {
        let url = Self.file("\(fixture).f32.gguf")
        let tokenizer = try ModelLoader.loadTokenizer(at: url)
        let original = try Tokenizer.load(directory: Fixtures.directory(fixture))
        let texts = try LlamaCppReference.load().prompts + ["Hello world, this is a test: 12345 ÀÉ 你好 🙂\n\tdone", "  two  spaces, 'quotes' and CAPS'LL"]
        for text in texts {
            #expect(tokenizer.encode(text) == original.encode(text), "\(fixture): \(text.debugDescription)")
            let ids = original.encode(text)
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == original.decode(ids, skipSpecialTokens: true), "\(fixture)")
        }
        #expect(tokenizer.chatTemplate == original.chatTemplate)
        #expect(tokenizer.bosTokenId == original.bosTokenId && tokenizer.eosTokenId == original.eosTokenId)
    }

    /// Broken or unsupported files fail with a typed error naming the problem.
    @Test func badFilesFailClearly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try Data(contentsOf: Self.file("qwen2-tied.q8_0.gguf"))
        let notGGUF = directory.appendingPathComponent("x.gguf")
        try Data("GGUF? no".utf8).write(to: notGGUF)
        #expect(throws: ModelLoadingError.self) { try ModelLoader.load(directory: notGGUF) }
        let truncated = directory.appendingPathComponent("truncated.gguf")
        try original.prefix(original.count - 1000).write(to: truncated)
        #expect { try ModelLoader.load(directory: truncated) } throws: { "\($0)".contains("outside the") }
        // Rename the architecture: same length, so the file stays well formed.
        let renamed = directory.appendingPathComponent("gemma.gguf")
        try Data(original.replacing(Data("qwen2".utf8), with: Data("gemma".utf8))).write(to: renamed)
        #expect { try ModelLoader.load(directory: renamed) } throws: { "\($0)".contains("unsupported architecture 'gemma'") }
    }

    /// The F16 file runs the 16-bit kernels: within float16 rounding of the F32 logits.
    @Test func f16FileMatchesF32File() throws {
        let f16 = try ModelLoader.load(directory: Self.file("llama-gqa.f16.gguf"))
        let f32 = try ModelLoader.load(directory: Self.file("llama-gqa.f32.gguf"))
        let ids = try loadReference("llama-gqa")[0].tokenIds
        let a = try f16.forward(ids, cache: f16.makeCache(capacity: ids.count), allLogits: true)
        let b = try f32.forward(ids, cache: f32.makeCache(capacity: ids.count), allLogits: true)
        #expect(maxAbsDifference(a, b) < 0.05)
        #expect(maxAbsDifference(a, b) > 0, "the F16 file must hold rounded weights")
    }
}

/// llama.cpp's outputs on the committed GGUF files.
struct LlamaCppReference {
    struct Step { let id: Int; let top: [(id: Int, logprob: Double)] }
    struct Prompt { let promptIds: [Int]; let steps: [Step] }
    let prompts: [String]
    let files: [String: [Prompt]]

    static func load(_ name: String = "references.json") throws -> LlamaCppReference {
        let data = try Data(contentsOf: GGUFParityTests.root.appendingPathComponent(name))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let prompts = json["prompts"] as? [String], let files = json["files"] as? [String: [[String: Any]]] else {
            throw ReferenceError.malformed("references.json")
        }
        var parsed: [String: [Prompt]] = [:]
        for (name, entries) in files {
            parsed[name] = try entries.map { entry in
                guard let ids = entry["prompt_ids"] as? [Int], let steps = entry["steps"] as? [[String: Any]] else { throw ReferenceError.malformed(name) }
                return Prompt(promptIds: ids, steps: try steps.map { step in
                    guard let id = step["id"] as? Int, let top = step["top"] as? [[Double]] else { throw ReferenceError.malformed(name) }
                    return Step(id: id, top: top.map { (Int($0[0]), $0[1]) })
                })
            }
        }
        return LlamaCppReference(prompts: prompts, files: parsed)
    }
}

/// GGUF files against llama.cpp on the same file (its references use a float32 KV cache, as
/// Tessera does). Prompt ids must be identical. Along llama.cpp's greedy path (teacher-forced),
/// the log-probabilities of llama.cpp's top 5 are compared: their mean and largest difference
/// must stay within the bounds measured here (mean, max), and our argmax must be llama.cpp's
/// wherever its top-2 gap exceeds the largest difference. The tiny random models amplify
/// rounding: llama.cpp's own Q8_0 file moves its F32 log-probabilities by up to ~0.4, and the
/// 8-bit activation rounding (ggml computes 127/amax where we use 1/(amax/127)) moves some
/// quantized values by one step, so the 32-element formats on 64-wide rows differ most.
struct QuantizedParityTests {
    /// File → (mean, max) bound on |Δ logprob|, about 1.5× what was measured.
    static let bounds: [String: (mean: Double, max: Double)] = [
        "llama-gqa.f32.gguf": (0.01, 0.05), "llama-sp.f32.gguf": (0.01, 0.06),
        "llama-gqa.q8_0.gguf": (0.25, 1.2), "llama-gqa.q4_0.gguf": (0.25, 1.0), "llama-gqa.q4_1.gguf": (0.25, 1.0),
        "qwen2-tied.q8_0.gguf": (0.25, 1.2), "qwen2-tied.q4_0.gguf": (0.25, 1.3),
        "llama-k.q4_k_m.gguf": (0.03, 0.15), "llama-k.q5_k_m.gguf": (0.03, 0.15),
    ]
    static let files = bounds.keys.sorted()

    @Test(arguments: files)
    func matchesLlamaCpp(file: String) throws {
        let reference = try LlamaCppReference.load()
        let url = GGUFParityTests.file(file)
        let model = try ModelLoader.load(directory: url)
        let tokenizer = try ModelLoader.loadTokenizer(at: url)
        let expected = try #require(reference.files[file])
        let bound = try #require(Self.bounds[file])
        var worst = 0.0, total = 0.0, count = 0, agreed = 0, decided = 0
        for (text, prompt) in zip(reference.prompts, expected) {
            #expect(tokenizer.encode(text) == prompt.promptIds, "\(file): prompt ids of \(text.debugDescription)")
            let cache = model.makeCache(capacity: prompt.promptIds.count + prompt.steps.count)
            var logits = try model.forward(prompt.promptIds, cache: cache, allLogits: false)[0]
            for step in prompt.steps {
                let maximum = logits.max() ?? 0
                let logSum = Double(maximum) + log(logits.reduce(0.0) { $0 + exp(Double($1 - maximum)) })
                for (id, logprob) in step.top {
                    let difference = abs(Double(logits[id]) - logSum - logprob)
                    worst = max(worst, difference)
                    total += difference
                    count += 1
                }
                if step.top.count > 1, step.top[0].logprob - step.top[1].logprob > bound.max {
                    decided += 1
                    if argmax(logits) == step.id { agreed += 1 }
                }
                logits = try model.forward([step.id], cache: cache, allLogits: false)[0]
            }
        }
        let mean = total / Double(max(count, 1))
        print("\(file): |Δ logprob| vs llama.cpp mean \(mean) max \(worst); argmax agrees \(agreed)/\(decided) where the gap > \(bound.max)")
        #expect(mean < bound.mean && worst < bound.max, "\(file): mean \(mean) max \(worst)")
        #expect(agreed == decided, "\(file)")
    }
}
