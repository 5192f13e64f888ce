import Foundation
import Models
import Tensor
import Testing

/// A decoder split into pipeline stages computes what the whole decoder computes, each stage with
/// the KV of its own layers only; leaving a stage's layers out changes the logits.
@Suite struct DecoderSliceTests {
    static func decoder(_ name: String) throws -> DecoderLanguageModel {
        try #require(try ModelLoader.load(directory: Fixtures.directory(name)) as? DecoderLanguageModel)
    }

    /// Runs a prompt, then one decode step, through `stages` (each with its own paged cache under
    /// one block table); returns both steps' last-row logits.
    static func run(_ stages: [DecoderLanguageModel], prompt: [Int], next: Int) throws -> [[Float]] {
        let caches = stages.map { PagedKVCache(config: $0.config, blockCount: 8, blockSize: 4, layers: $0.kvLayers) }
        let table = Array(0 ..< 8)
        var outputs: [[Float]] = []
        for (tokens, start) in [(prompt, 0), ([next], prompt.count)] {
            let batch = [BatchSequence(tokens: tokens, start: start, blockTable: table, wantsLogits: true)]
            var hidden: Matrix?
            for (stage, cache) in zip(stages, caches) {
                switch try stage.forward(batch: batch, hidden: hidden, cache: cache) {
                case let .hidden(h): hidden = h
                case let .logits(l): outputs += l
                }
            }
        }
        return outputs
    }

    @Test(arguments: Fixtures.names)
    func stagesComputeTheWholeDecoder(name: String) throws {
        let whole = try Self.decoder(name)
        let layers = whole.config.numLayers
        let prompt = [1, 5, 9, 13, 17, 21, 2]
        let expected = try Self.run([whole], prompt: prompt, next: 7)
        for cuts in [[0, 2, layers + 2], [0, 1, 2, layers + 2], [0, 1, layers + 1, layers + 2]] {
            let stages = try zip(cuts, cuts.dropFirst()).map { try whole.slice(DecoderSlice(units: $0 ..< $1)) }
            #expect(stages.map(\.kvLayers).reduce(0, +) == layers)
            let split = try Self.run(stages, prompt: prompt, next: 7)
            let difference = zip(split.joined(), expected.joined()).map { abs($0 - $1) }.max() ?? .infinity
            #expect(split.count == 2 && difference <= 1e-5, "\(name) cut at \(cuts): max difference \(difference)")
        }
        // Without the stage holding layer 1 (of 0 and 1) the output is another one.
        let skipping = try [whole.slice(DecoderSlice(units: 0 ..< 2)), whole.slice(DecoderSlice(units: layers + 1 ..< layers + 2))]
        let skipped = try Self.run(skipping, prompt: prompt, next: 7)
        #expect(zip(skipped.joined(), expected.joined()).map { abs($0 - $1) }.max()! > 1e-2)
    }

    @Test func stageInputsAndUnitsAreChecked() throws {
        let whole = try Self.decoder("llama-gqa")
        let last = try whole.slice(DecoderSlice(units: 2 ..< 4))
        let cache = PagedKVCache(config: last.config, blockCount: 4, blockSize: 4, layers: last.kvLayers)
        let batch = [BatchSequence(tokens: [1, 2], start: 0, blockTable: [0], wantsLogits: true)]
        // A later stage needs the hidden states of every batch token, not token ids.
        #expect(throws: ForwardError.self) { try last.forward(batch: batch, hidden: nil, cache: cache) }
        #expect(throws: ForwardError.self) { try last.forward(batch: batch, hidden: Matrix(rows: 1, cols: last.config.hiddenSize), cache: cache) }
        // A stage without the LM head has no logits to give; the contiguous cache needs the whole model.
        let first = try whole.slice(DecoderSlice(units: 0 ..< 2))
        #expect(throws: ForwardError.self) {
            try first.forward(batch: batch, cache: PagedKVCache(config: first.config, blockCount: 4, blockSize: 4, layers: first.kvLayers))
        }
        #expect(throws: ForwardError.self) { try first.forward([1, 2], cache: first.makeCache(capacity: 8), allLogits: false) }
        #expect(throws: ForwardError.self) { try whole.slice(DecoderSlice(units: 3 ..< 5)) }
        #expect(DecoderSlice(parsing: "1:3") == DecoderSlice(units: 1 ..< 3))
        #expect(DecoderSlice(parsing: "3:3") == nil && DecoderSlice(parsing: "a:b") == nil && DecoderSlice(parsing: "2") == nil)
        #expect(DecoderSlice(units: 0 ..< 1).layers(numLayers: 2).isEmpty && DecoderSlice(units: 3 ..< 4).layers(numLayers: 2).isEmpty)
    }
}
