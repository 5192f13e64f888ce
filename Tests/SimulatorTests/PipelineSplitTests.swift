import Testing
@testable import Cluster
@testable import Simulator


/// A two-layer decoder whose units are easy to weigh: hidden states of 64 floats (256 bytes) per
/// token, logits of 1000 floats (4000 bytes) per row.
private let shape = PipelineSplit.DecoderShape(layers: 2, hiddenSize: 64, intermediateSize: 128, vocabSize: 1000, queryWidth: 64, kvWidth: 32)

private func pipeline(speed: Double, link: Double) -> SystemSpec.Pipeline {
    let total = PipelineSplit.units(of: shape).reduce(0) { $0 + $1.memoryBytes }
    let stage = PipelineSplit.Stage(memoryBytes: 0.52 * total, flopsPerSecond: speed, linkBytesPerSecond: link)
    return SystemSpec.Pipeline(model: shape, stages: [stage, stage], referenceFlopsPerSecond: 1e9)
}

/// The simulator runs HELR's plan of the layer split and pays each hop: the prompt's hidden states
/// forward and one logits row back on the first step, one token each way on every decode step.
@Test func aLayerSplitInstancePaysItsHopsAndComputesAtItsStagesSpeed() throws {
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [], outputTokens: 5)])
    var system = SystemSpec(name: "pipelined", deployment: .monolithic(1))
    system.pipeline = pipeline(speed: 1e9, link: 1e6)
    let plan = try #require(system.pipeline).split.plan()
    #expect(plan.blocks.map(\.layers) == [0 ..< 2, 2 ..< 4])
    let sim = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    let prefillHop = (100 * 256 + 4000) / 1e6, decodeHop = (256 + 4000) / 1e6
    #expect(close(sim.requests[0].firstToken, 0.110 + prefillHop))
    #expect(close(sim.requests[0].finish, 0.110 + prefillHop + 4 * (0.010 + decodeHop)))
    // Stages twice as fast as the profiled device halve the compute; the hops stay.
    system.pipeline = pipeline(speed: 2e9, link: 1e6)
    let fast = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    #expect(close(fast.requests[0].firstToken, 0.055 + prefillHop))
}

@Test func layerSplitSystemsAreChecked() {
    var system = SystemSpec(name: "pd", deployment: .prefillDecode(prefill: 1, decode: 1))
    system.pipeline = pipeline(speed: 1e9, link: 1e6)
    #expect(throws: SimulationError.self) { try ClusterSimulator.simulate(trace: Trace(requests: []), system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil) }
    // Budgets too small for the model on any chain of stages.
    system = SystemSpec(name: "small", deployment: .monolithic(1))
    var tight = pipeline(speed: 1e9, link: 1e6)
    tight.stages = tight.stages.map { var s = $0; s.memoryBytes /= 4; return s }
    system.pipeline = tight
    #expect(throws: SimulationError.self) { try ClusterSimulator.simulate(trace: Trace(requests: []), system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil) }
}
