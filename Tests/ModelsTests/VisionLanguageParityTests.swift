import Foundation
import Imaging
import Testing
@testable import Models
import Tensor
import Tokenizers

/// LLaVA and Qwen2-VL against transformers on every test image: vision features, expanded
/// prompts, per-position logits, greedy continuations and top-5 log-probabilities.
struct VisionLanguageParityTests {
    static let fixtures = ["llava-tiny", "qwen2-vl-tiny"]
    static let tolerance: Float = 1e-4

    struct Loaded {
        let reference: VisionReference
        let model: VisionLanguageModel
        let tokenizer: Tokenizer
        let prompts: [VisionPrompt]

        init(_ fixture: String) throws {
            reference = try VisionReference(fixture)
            model = try ModelLoader.loadVisionLanguageModel(directory: reference.directory)
            tokenizer = try Tokenizer.load(directory: reference.directory)
            prompts = try VisionPrompt.load(reference)
        }

        /// The prompt expanded from its text, and its images encoded and placed.
        func inputs(_ prompt: VisionPrompt) throws -> (MultimodalPrompt, [ImageFeatures]) {
            let pixels = try prompt.images.map { try reference.preprocessed($0) }
            let expanded = try model.expandPrompt(tokenizer.encode(prompt.text), images: pixels)
            return (expanded, try expanded.place(try pixels.map { try model.encodeImage($0) }))
        }
    }

    @Test(arguments: fixtures)
    func visionFeaturesMatch(fixture: String) throws {
        let loaded = try Loaded(fixture)
        let vision = try #require(loaded.reference.json["vision"] as? [String: [String: Any]])
        #expect(vision.count == VisionReference.images.count)
        for (name, expected) in vision {
            let pixels = try loaded.reference.preprocessed(name)
            #expect(pixels.shape == expected["pixel_shape"] as? [Int] || [1] + pixels.shape == expected["pixel_shape"] as? [Int])
            let features = try loaded.model.encodeImage(pixels)
            #expect(maxScaledDifference(features.rowArrays, try loaded.reference.rows(expected["features"])) < Self.tolerance, "\(name) features")
            #expect(features.rows == (try loaded.model.imageTokenCount(for: pixels)))
            // The tower's own output: LLaVA's selected layer (class row dropped), Qwen2-VL's blocks before the merger.
            let tower: [[Float]]
            switch loaded.model.encoder {
            case let llava as Llava.Encoder:
                let states = try llava.tower.hiddenStates(pixels, through: llava.layers[0])
                tower = Array(states[llava.layers[0]].rowArrays.dropFirst())
            case let qwen as Qwen2VL.Encoder:
                tower = try qwen.vision.forward(pixels).lastHiddenState.rowArrays
                #expect(pixels.gridTHW == expected["grid_thw"] as? [Int])
            default:
                Issue.record("unexpected encoder")
                return
            }
            #expect(maxScaledDifference(tower, try loaded.reference.rows(expected["tower"])) < Self.tolerance, "\(name) tower")
        }
    }

    @Test(arguments: fixtures)
    func promptsExpandAsTheProcessorDoes(fixture: String) throws {
        let loaded = try Loaded(fixture)
        #expect(loaded.prompts.contains { $0.images.count > 1 }, "a multi-image prompt")
        for prompt in loaded.prompts {
            let (expanded, _) = try loaded.inputs(prompt)
            #expect(expanded.tokenIds == prompt.tokenIds, "\(prompt.images)")
            #expect(expanded.imageSpans.map(\.length) == prompt.imageTokenCounts)
            #expect(expanded.imageTokenCount == prompt.imageTokenCounts.reduce(0, +))
            for span in expanded.imageSpans {
                #expect(prompt.tokenIds[span.range].allSatisfy { $0 == loaded.model.imageTokenId })
            }
            #expect(prompt.tokenIds.filter { $0 == loaded.model.imageTokenId }.count == expanded.imageTokenCount)
        }
    }

    @Test(arguments: fixtures)
    func promptLogitsMatch(fixture: String) throws {
        let loaded = try Loaded(fixture)
        for prompt in loaded.prompts {
            let (expanded, images) = try loaded.inputs(prompt)
            let cache = loaded.model.languageModel.makeCache(capacity: expanded.tokenIds.count)
            let logits = try loaded.model.languageModel.forward(expanded.tokenIds, images: images, mrope: expanded.mrope, cache: cache, allLogits: true)
            #expect(maxScaledDifference(logits, prompt.logits) < Self.tolerance, "\(prompt.images)")
        }
    }

    @Test(arguments: fixtures)
    func chunkedPrefillSplittingImagesMatches(fixture: String) throws {
        let loaded = try Loaded(fixture)
        for prompt in loaded.prompts {
            let (expanded, images) = try loaded.inputs(prompt)
            for chunk in [3, 7] {
                let cache = loaded.model.languageModel.makeCache(capacity: expanded.tokenIds.count)
                var logits: [[Float]] = []
                for start in stride(from: 0, to: expanded.tokenIds.count, by: chunk) {
                    let piece = Array(expanded.tokenIds[start ..< min(start + chunk, expanded.tokenIds.count)])
                    logits += try loaded.model.languageModel.forward(piece, images: images, mrope: expanded.mrope, cache: cache, allLogits: true)
                }
                #expect(maxScaledDifference(logits, prompt.logits) < Self.tolerance, "\(prompt.images) chunk \(chunk)")
            }
        }
    }

    @Test(arguments: fixtures)
    func greedyContinuationAndLogprobsMatch(fixture: String) throws {
        let loaded = try Loaded(fixture)
        let language = loaded.model.languageModel
        for prompt in loaded.prompts {
            let (expanded, images) = try loaded.inputs(prompt)
            let cache = language.makeCache(capacity: expanded.tokenIds.count + prompt.greedyTokenIds.count)
            var logits = try language.forward(expanded.tokenIds, images: images, mrope: expanded.mrope, cache: cache, allLogits: false)[0]
            var generated: [Int] = []
            for step in prompt.greedyTokenIds.indices {
                let token = argmax(logits)
                generated.append(token)
                for expected in prompt.topLogprobs[step] {
                    #expect(abs(logprob(logits, expected.id) - expected.logprob) < 1e-4, "\(prompt.images) step \(step) id \(expected.id)")
                }
                logits = try language.forward([token], images: images, mrope: expanded.mrope, cache: cache, allLogits: false)[0]
            }
            #expect(generated == prompt.greedyTokenIds, "\(prompt.images)")
        }
    }

    @Test(arguments: fixtures)
    func batchedPathEqualsSinglePath(fixture: String) throws {
        let loaded = try Loaded(fixture)
        let language = loaded.model.languageModel
        let blockSize = 8
        let paged = PagedKVCache(config: language.config, blockCount: 64, blockSize: blockSize)
        var nextBlock = 0
        var sequences: [(prompt: VisionPrompt, expanded: MultimodalPrompt, images: [ImageFeatures], table: [Int])] = []
        for prompt in loaded.prompts {
            let (expanded, images) = try loaded.inputs(prompt)
            let blocks = (expanded.tokenIds.count + 1 + blockSize - 1) / blockSize
            sequences.append((prompt, expanded, images, Array(nextBlock ..< nextBlock + blocks)))
            nextBlock += blocks
        }
        // Prefill every prompt in two chunks per step (the second chunk cuts through images), then one decode step.
        var last: [[Float]] = []
        for half in 0 ..< 2 {
            let batch = sequences.map { s -> BatchSequence in
                let split = s.expanded.tokenIds.count / 2
                let range = half == 0 ? 0 ..< split : split ..< s.expanded.tokenIds.count
                return BatchSequence(tokens: Array(s.expanded.tokenIds[range]), start: range.lowerBound, blockTable: s.table,
                                     wantsLogits: half == 1, images: s.images, mrope: s.expanded.mrope)
            }
            last = try language.forward(batch: batch, cache: paged)
        }
        for (s, logits) in zip(sequences, last) {
            #expect(maxScaledDifference([logits], [s.prompt.logits[s.prompt.logits.count - 1]]) < Self.tolerance)
        }
        let decode = sequences.map { s in
            BatchSequence(tokens: [s.prompt.greedyTokenIds[0]], start: s.expanded.tokenIds.count, blockTable: s.table, wantsLogits: true,
                          images: s.images, mrope: s.expanded.mrope)
        }
        let batched = try language.forward(batch: decode, cache: paged)
        for (s, logits) in zip(sequences, batched) {
            let cache = language.makeCache(capacity: s.expanded.tokenIds.count + 1)
            _ = try language.forward(s.expanded.tokenIds, images: s.images, mrope: s.expanded.mrope, cache: cache, allLogits: false)
            let single = try language.forward([s.prompt.greedyTokenIds[0]], images: s.images, mrope: s.expanded.mrope, cache: cache, allLogits: false)
            #expect(maxScaledDifference([logits], single) < Self.tolerance)
        }
    }
}
