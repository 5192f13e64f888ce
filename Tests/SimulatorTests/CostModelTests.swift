import Foundation
import Testing
@testable import Simulator


/// Prefill and decode with different fixed costs, as hand-derived GPU files have them.
private func unequalFixedCosts() -> CostModel {
    var model = roundCostModel()
    model.prefill = .init(fixedMs: 10, perTokenMs: 1, perTokenSquaredMs: 0.001, imageTokenWeight: 1, maxBatchTokens: 8192, maxBatchRequests: 16)
    model.decode = .init(fixedMs: 30, perSequenceMs: 2, perContextTokenMs: 0.01, maxBatch: 64)
    return model
}

@Test func aStepPaysOneFixedCostForPrefillAndDecodeTogether() {
    let model = unequalFixedCosts()
    // Prefill alone and decode alone are the stage formulas.
    #expect(close(model.stepSeconds(prefillTokens: 100, squaredLengths: 10_000, decodeBatch: 0, contextTokens: 0),
                  model.prefillSeconds(tokens: 100, squaredLengths: 10_000)))
    #expect(close(model.stepSeconds(prefillTokens: 0, squaredLengths: 0, decodeBatch: 4, contextTokens: 1000),
                  model.decodeStepSeconds(batch: 4, contextTokens: 1000)))
    // Both in one forward pass: max(10, 30) + (100 + 10) + (8 + 10) ms, not 10 + 30 + ….
    #expect(close(model.stepSeconds(prefillTokens: 100, squaredLengths: 10_000, decodeBatch: 4, contextTokens: 1000), 0.158))
    #expect(model.stepSeconds(prefillTokens: 0, squaredLengths: 0, decodeBatch: 0, contextTokens: 0) == 0)
}

@Test func chunkedStepWithAPromptTakesTheLargerFixedCostOnce() throws {
    // No step-time target, so r1's whole prompt joins one step.
    let (trace, system) = decodeWithLateArrival()
    let sim = try ClusterSimulator.simulate(trace: trace, system: system, costModel: unequalFixedCosts(), slo: looseSLO, predictor: nil)
    // r0: prefill 10 + 100 + 10 ms (Σlen² = 10⁴) = 0.12 s.
    #expect(close(sim.requests[0].firstToken, 0.12))
    // Decode steps of 30 + 2 + 0.01·context ms from 0.12 (context 100, then one more per step);
    // the step in flight at 0.505 ends at the boundary the simulator computes.
    var t = 0.12, context = 100
    while t < 0.505 {
        t += (30 + 2 + 0.01 * Double(context)) / 1000
        context += 1
    }
    // Then one pass decodes r0 and prefills r1: 30 (once) + 2 + 0.01·context + 100 + 10 ms.
    let mixed = (30 + 2 + 0.01 * Double(context) + 100 + 10) / 1000
    #expect(close(sim.requests[1].firstToken, t + mixed))
}

@Test func profilesWithoutMixedOrEncodeMeasurementsStillLoad() throws {
    // The measurements section as profiles wrote it before mixed steps and encoding were measured.
    var json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(roundCostModel())) as? [String: Any])
    json["measurements"] = ["prefill": [["sequences": 1, "tokens": 32, "squaredLengths": 1024, "ms": 1.5]],
                            "decode": [["batch": 1, "contextTokens": 33, "ms": 0.5]],
                            "transfer": [["bytes": 1024, "ms": 0.01]], "loadSeconds": 0.2]
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("old-profile-\(UUID().uuidString).json")
    defer { try? FileManager.default.removeItem(at: url) }
    try JSONSerialization.data(withJSONObject: json).write(to: url)
    let model = try CostModel.load(from: url)
    let m = try #require(model.measurements)
    #expect(m.prefill.count == 1 && m.decode.count == 1 && m.mixed == nil && m.encode == nil)
}

@Test func smallStepsHaveTheirOwnCoefficients() {
    var model = unequalFixedCosts()
    model.smallStep = .init(maxTokens: 4, fixedMs: 5, perTokenMs: 2, perAttendedTokenMs: 0.01)
    // Up to four tokens in all: 5 + 2·tokens + 0.01·attended.
    #expect(close(model.decodeStepSeconds(batch: 4, contextTokens: 100), 0.014))
    #expect(close(model.prefillSeconds(tokens: 3, squaredLengths: 9), 0.01109))
    #expect(close(model.stepSeconds(prefillTokens: 2, squaredLengths: 4, decodeBatch: 2, contextTokens: 100), 0.01404))
    // Five tokens leave the small regime: the larger coefficients, one fixed cost.
    #expect(close(model.decodeStepSeconds(batch: 5, contextTokens: 100), 0.041))
    #expect(close(model.stepSeconds(prefillTokens: 3, squaredLengths: 9, decodeBatch: 2, contextTokens: 100), 0.038009))  // 30 + 3 + 0.009 + 4 + 1 ms
    var bad = model
    bad.smallStep?.maxTokens = 0
    #expect(throws: SimulationError.self) { try bad.validate() }
}

@Test func decodeRunsGrowWithTheSmallStepsContextCost() throws {
    var model = roundCostModel()
    model.smallStep = .init(maxTokens: 4, fixedMs: 2, perTokenMs: 0, perAttendedTokenMs: 0.01)
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [], outputTokens: 5)])
    let sim = try ClusterSimulator.simulate(trace: trace, system: SystemSpec(name: "m", deployment: .monolithic(1)),
                                            costModel: model, slo: looseSLO, predictor: nil)
    // Prefill of 100 tokens on the large coefficients: 10 + 100 ms.
    #expect(close(sim.requests[0].firstToken, 0.110))
    // Four decode steps of one token over 100, 101, 102 and 103 tokens: 2 + 0.01·context ms each.
    #expect(close(sim.requests[0].finish, 0.110 + (3.00 + 3.01 + 3.02 + 3.03) / 1000))
}
