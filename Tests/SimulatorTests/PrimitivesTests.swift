import Foundation
import Testing
@testable import Simulator

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

@Test func shippedCostModelsLoadAndValidate() throws {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/sim/costmodels")
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
    #expect(files.count >= 4)
    for f in files {
        let model = try CostModel.load(from: dir.appendingPathComponent(f))
        #expect(!model.sources.isEmpty)
        // The hand-derived GPU files are of 7B+ models; profiled ones (tessera profile) carry their points.
        if model.measurements == nil { #expect(model.decodeStepSeconds(batch: 1, contextTokens: 1000) > 0.005) }
    }
    var bad = roundCostModel()
    bad.format = "other"
    #expect(throws: SimulationError.self) { try bad.validate() }
}
