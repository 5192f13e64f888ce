import Foundation
import Testing
@testable import Models

/// Logits and greedy continuations against transformers, computed three ways through the KV cache.
struct ReferenceParityTests {
    static let tolerance: Float = 1e-4

    @Test(arguments: Fixtures.names)
    func fullPromptLogitsMatch(fixture: String) throws {
        let model = try ModelLoader.load(directory: Fixtures.directory(fixture))
        for prompt in try loadReference(fixture) {
            let cache = model.makeCache(capacity: prompt.tokenIds.count)
            let logits = try model.forward(prompt.tokenIds, cache: cache, allLogits: true)
            #expect(maxAbsDifference(logits, prompt.logits) < Self.tolerance)
            #expect(cache.count == prompt.tokenIds.count)
        }
    }

    @Test(arguments: Fixtures.names)
    func tokenByTokenLogitsMatch(fixture: String) throws {
        let model = try ModelLoader.load(directory: Fixtures.directory(fixture))
        for prompt in try loadReference(fixture) {
            let cache = model.makeCache(capacity: prompt.tokenIds.count)
            let logits = try prompt.tokenIds.map { try model.forward([$0], cache: cache, allLogits: false)[0] }
            #expect(maxAbsDifference(logits, prompt.logits) < Self.tolerance)
        }
    }

    @Test(arguments: Fixtures.names)
    func chunkedPrefillLogitsMatch(fixture: String) throws {
        let model = try ModelLoader.load(directory: Fixtures.directory(fixture))
        for prompt in try loadReference(fixture) {
            for chunk in [2, 5] {
                let cache = model.makeCache(capacity: prompt.tokenIds.count)
                var logits: [[Float]] = []
                for start in stride(from: 0, to: prompt.tokenIds.count, by: chunk) {
                    let piece = Array(prompt.tokenIds[start ..< min(start + chunk, prompt.tokenIds.count)])
                    logits += try model.forward(piece, cache: cache, allLogits: true)
                }
                #expect(maxAbsDifference(logits, prompt.logits) < Self.tolerance, "chunk \(chunk)")
            }
        }
    }

    @Test(arguments: Fixtures.names)
    func greedyContinuationMatches(fixture: String) throws {
        let model = try ModelLoader.load(directory: Fixtures.directory(fixture))
        for prompt in try loadReference(fixture) {
            let cache = model.makeCache(capacity: prompt.tokenIds.count + prompt.greedyTokenIds.count)
            var logits = try model.forward(prompt.tokenIds, cache: cache, allLogits: false)[0]
            var generated: [Int] = []
            for step in prompt.greedyTokenIds.indices {
                let token = argmax(logits)
                generated.append(token)
                // log-softmax of our logits against transformers' top-5 log-probabilities.
                let maximum = logits.max() ?? 0
                let logSum = Double(maximum) + log(logits.reduce(0.0) { $0 + exp(Double($1 - maximum)) })
                for expected in prompt.topLogprobs[step] {
                    #expect(abs(Double(logits[expected.id]) - logSum - expected.logprob) < 1e-4, "step \(step) id \(expected.id)")
                }
                logits = try model.forward([token], cache: cache, allLogits: false)[0]
            }
            #expect(generated == prompt.greedyTokenIds)
        }
    }

    @Test func truncatedCacheReplaysIdentically() throws {
        let model = try ModelLoader.load(directory: Fixtures.directory("llama-gqa"))
        guard let prompt = try loadReference("llama-gqa").first else { Issue.record("no prompt"); return }
        let cache = model.makeCache(capacity: prompt.tokenIds.count)
        _ = try model.forward(prompt.tokenIds, cache: cache, allLogits: false)
        cache.truncate(to: 3)
        #expect(cache.count == 3)
        let rest = try model.forward(Array(prompt.tokenIds[3...]), cache: cache, allLogits: true)
        #expect(maxAbsDifference(rest, Array(prompt.logits[3...])) < Self.tolerance)
        cache.reset()
        #expect(cache.count == 0)
        let again = try model.forward(prompt.tokenIds, cache: cache, allLogits: true)
        #expect(maxAbsDifference(again, prompt.logits) < Self.tolerance)
    }
}
