import Foundation
import Testing
@testable import Simulator

@Test func splitMix64MatchesTheReferenceSequence() {
    var rng = SplitMix64(seed: 0)
    #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
    #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
    var u = SplitMix64(seed: 42)
    for _ in 0..<1000 { let x = u.uniform(); #expect(x >= 0 && x < 1) }
}

@Test func eventQueueOrdersByTimeThenInsertion() {
    var q = EventQueue<String>()
    q.push("b", at: 2)
    q.push("a", at: 1)
    q.push("c", at: 2)
    q.push("first", at: 0)
    var out: [String] = []
    while let e = q.pop() { out.append(e.payload) }
    #expect(out == ["first", "a", "b", "c"])
}

@Test func lruEvictsTheLeastRecentlyUsed() {
    var cache = LRUCache(capacity: 300)
    cache.touch(1, tokens: 100)
    cache.touch(2, tokens: 100)
    cache.touch(3, tokens: 100)
    cache.touch(1, tokens: 100)      // 2 is now the oldest
    cache.touch(4, tokens: 100)
    #expect(cache.contains(1) && !cache.contains(2) && cache.contains(3) && cache.contains(4))
    cache.touch(5, tokens: 1000)     // larger than the cache: not kept
    #expect(!cache.contains(5) && cache.used == 300)
}

@Test func shippedCostModelsLoadAndValidate() throws {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/sim/costmodels")
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
    #expect(files.count >= 4)
    for f in files {
        let model = try CostModel.load(from: dir.appendingPathComponent(f))
        #expect(!model.sources.isEmpty)
        #expect(model.decodeStepSeconds(batch: 1, contextTokens: 1000) > 0.005)
    }
    var bad = roundCostModel()
    bad.format = "other"
    #expect(throws: SimulationError.self) { try bad.validate() }
}
