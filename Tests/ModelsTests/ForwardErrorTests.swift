import Foundation
import Testing
@testable import Models

struct ForwardErrorTests {
    @Test func badInputsThrowAndLeaveTheCacheUntouched() throws {
        let model = try ModelLoader.load(directory: Fixtures.directory("llama-gqa"))
        let vocab = model.config.vocabSize
        let cache = model.makeCache(capacity: 4)
        _ = try model.forward([1, 2], cache: cache, allLogits: false)
        #expect(throws: ForwardError.tokenOutOfRange(token: vocab, vocabSize: vocab)) { try model.forward([3, vocab], cache: cache, allLogits: false) }
        #expect(throws: ForwardError.tokenOutOfRange(token: -1, vocabSize: vocab)) { try model.forward([-1], cache: cache, allLogits: false) }
        #expect(throws: ForwardError.cacheFull(required: 5, capacity: 4)) { try model.forward([1, 2, 3], cache: cache, allLogits: false) }
        #expect(throws: ForwardError.emptyInput) { try model.forward([], cache: cache, allLogits: false) }
        #expect(cache.count == 2)
        let foreign = KVCache(capacity: 8, numLayers: 1, rowWidth: 3)
        #expect(throws: ForwardError.self) { try model.forward([1], cache: foreign, allLogits: false) }
        let rows = try model.forward([1, 2], cache: cache, allLogits: true)
        #expect(rows.count == 2 && rows.allSatisfy { $0.count == vocab } && cache.count == 4)
    }
}
