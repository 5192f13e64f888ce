import Testing
@testable import Cluster
@testable import Simulator


@Test func monolithicInstanceFollowsTheCostModel() throws {
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [], outputTokens: 5)])
    let sim = try ClusterSimulator.simulate(trace: trace, system: SystemSpec(name: "m", deployment: .monolithic(1)),
                                            costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    let r = sim.requests[0]
    #expect(close(r.firstToken, 0.110))             // 10 ms + 100 × 1 ms
    #expect(close(r.finish, 0.110 + 4 * 0.010))     // four more 10 ms steps
}

@Test func decodeRunIsCutAtTheNextStepBoundaryForNewWork() throws {
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [], outputTokens: 100),
                                 TraceRequest(arrival: 0.505, textTokens: 100, images: [], outputTokens: 3)])
    var system = SystemSpec(name: "m", deployment: .monolithic(1))
    system.batching = "continuous"
    let sim = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    // r0 decodes from 0.11; the step in flight at 0.505 ends at 0.51 (40 steps), r1 prefills to 0.62.
    #expect(close(sim.requests[1].firstToken, 0.62))
    #expect(close(sim.requests[1].finish, 0.64))
    // r0 had 99 − 40 = 59 tokens left after the prefill.
    #expect(close(sim.requests[0].finish, 0.62 + 0.59))
}

@Test func chunkedPrefillMixesDecodeAndPrefillInOneStep() throws {
    let (trace, system) = decodeWithLateArrival()
    let sim = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    // At 0.51 one forward pass decodes r0 and prefills r1: one 10 ms fixed cost + 100 × 1 ms.
    #expect(close(sim.requests[1].firstToken, 0.62))
    #expect(close(sim.requests[1].finish, 0.64))
    // r0 gained a token in the mixed step: 99 − 41 = 58 left.
    #expect(close(sim.requests[0].finish, 0.62 + 0.58))
    // A prompt over the 8192-token budget takes two steps: 10 + 8192 ms, then 10 + 1808 ms.
    let long = try ClusterSimulator.simulate(trace: Trace(requests: [TraceRequest(arrival: 0, textTokens: 10_000, images: [], outputTokens: 1)]),
                                             system: SystemSpec(name: "m", deployment: .monolithic(1)), costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    #expect(close(long.requests[0].firstToken, 8.202 + 1.818))
}

@Test func stepTimeTargetCutsTheMixedStepAsTheLiveRuleDoes() throws {
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [], outputTokens: 100),
                                 TraceRequest(arrival: 0.505, textTokens: 100, images: [], outputTokens: 3)])
    let system = SystemSpec(name: "m", deployment: .monolithic(1))
    #expect(system.policies.stepTimeTargetMs == 50)
    // The step times a live scheduler fits to this cost model: 10 ms a step, 1 ms a prompt token,
    // decodes free. Its rule leaves 40 prompt tokens beside r0's decode (41 would take 51 ms).
    let room = StepTimeBudget(milliseconds: system.policies.stepTimeTargetMs)
        .room(decoding: 1, cap: 512, minimumChunk: 16) { prompt, _ in 0.010 + 0.001 * Double(prompt) }
    #expect(room == StepTimeBudget.Room(tokens: 40, admits: true))
    let sim = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    // r1's 100 prompt tokens run as 40, 40 and 20 beside r0's decodes from 0.51: 50 + 50 + 30 ms
    // (without the target, one 110 ms step: first token at 0.62).
    #expect(close(sim.requests[1].firstToken, 0.51 + 0.050 + 0.050 + 0.030))
    #expect(close(sim.requests[1].finish, 0.64 + 0.020))
    // r0 decoded once in each of the three mixed steps: 100 − 44 = 56 tokens left at 0.64.
    #expect(close(sim.requests[0].finish, 0.64 + 0.56))
}

@Test func disaggregatedStagesAddTransfers() throws {
    let image = TraceImage(width: 64, height: 64, hash: 9)
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [image], outputTokens: 5)])
    let epd = try ClusterSimulator.simulate(trace: trace, system: SystemSpec(name: "epd", deployment: .staticEPD(encode: 1, prefill: 1, decode: 1)),
                                            costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    // Encode 100 tokens (10 ms) + transfer (5 ms) + prefill 200 tokens (210 ms).
    #expect(close(epd.requests[0].firstToken, 0.225))
    // KV transfer (5 ms) then four decode steps.
    #expect(close(epd.requests[0].finish, 0.225 + 0.005 + 0.040))
    let pd = try ClusterSimulator.simulate(trace: trace, system: SystemSpec(name: "pd", deployment: .prefillDecode(prefill: 1, decode: 1)),
                                           costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    // Encode runs inline in the prefill batch: 10 ms + 210 ms, no embedding transfer.
    #expect(close(pd.requests[0].firstToken, 0.220))
    // When the decode side samples the first token (Tessera's workers): KV transfer (5 ms), then its
    // first 10 ms step; all five tokens come from the decode instance.
    var decodeFirst = SystemSpec(name: "pd", deployment: .prefillDecode(prefill: 1, decode: 1))
    decodeFirst.firstTokenOnDecode = true
    let handed = try ClusterSimulator.simulate(trace: trace, system: decodeFirst, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    #expect(close(handed.requests[0].firstToken, 0.235))
    #expect(close(handed.requests[0].finish, 0.225 + 0.050))
}

@Test func prefixCacheSkipsRepeatedImages() throws {
    let image = TraceImage(width: 64, height: 64, hash: 9)
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [image], outputTokens: 2),
                                 TraceRequest(arrival: 10, textTokens: 100, images: [image], outputTokens: 2)])
    var system = SystemSpec(name: "cached", deployment: .monolithic(1))
    system.prefixCache = true
    system.batching = "continuous"
    let sim = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    #expect(close(sim.requests[0].firstToken, 0.220))
    // The repeat neither encodes nor prefills the image: 10 ms + 100 tokens.
    #expect(close(sim.requests[1].firstToken - 10, 0.110))
}

@Test func staticBatchesRunToTheLongestOutput() throws {
    // r0 keeps the instance busy until 0.11 s while r1 and r2 queue, so they share one batch.
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 100, images: [], outputTokens: 1),
                                 TraceRequest(arrival: 0.05, textTokens: 100, images: [], outputTokens: 3),
                                 TraceRequest(arrival: 0.05, textTokens: 50, images: [], outputTokens: 11)])
    var system = SystemSpec(name: "static", deployment: .monolithic(1))
    system.batching = "static"
    let sim = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    #expect(close(sim.requests[0].finish, 0.11))
    // Both prompts padded to 100: prefill 10 + 200 ms.
    #expect(close(sim.requests[1].firstToken, 0.32) && close(sim.requests[2].firstToken, 0.32))
    #expect(close(sim.requests[1].finish, 0.34))
    #expect(close(sim.requests[2].finish, 0.42))
}

@Test func oversizedRequestsFailInsteadOfBlocking() throws {
    let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 5000, images: [], outputTokens: 10),
                                 TraceRequest(arrival: 0.001, textTokens: 10, images: [], outputTokens: 2)])
    let result = try ClusterSimulator.run(trace: trace, system: SystemSpec(name: "m", deployment: .monolithic(1)),
                                          costModel: roundCostModel(kvCapacity: 1000), slo: looseSLO)
    #expect(result.completed == 1)
    #expect(result.sloAttainment == 0.5)
}

@Test func sameSeedSameResultDifferentSeedDifferentResult() throws {
    var options = SyntheticTraceGenerator.Options()
    options.durationSeconds = 120
    options.ratePerSecond = 20
    options.burstsPerHour = 60
    options.seed = 11
    var system = SystemSpec(name: "emm", deployment: Deployment(slots: [
        .init(role: .prefill, group: .text, count: 1), .init(role: .decode, group: .text, count: 1),
        .init(role: .encode, group: .multimodal, count: 1), .init(role: .prefill, group: .multimodal, count: 1),
        .init(role: .decode, group: .multimodal, count: 2)]))
    system.policies.router = "modality"
    system.prefixCache = true
    system.policies.planners = ["burst-tolerance", "elastic-partition"]
    let model = roundCostModel()
    let slo = SLOClasses(LatencySLO(ttft: 2, tpot: 0.05))
    let a = try ClusterSimulator.run(trace: SyntheticTraceGenerator(options).generate(), system: system, costModel: model, slo: slo)
    let b = try ClusterSimulator.run(trace: SyntheticTraceGenerator(options).generate(), system: system, costModel: model, slo: slo)
    #expect(a == b)
    options.seed = 12
    let c = try ClusterSimulator.run(trace: SyntheticTraceGenerator(options).generate(), system: system, costModel: model, slo: slo)
    #expect(a != c)
}

@Test func badSystemsAreRejected() {
    var system = SystemSpec(name: "x", deployment: .monolithic(1))
    system.policies.router = "nope"
    #expect(throws: SimulationError.self) { try ClusterSimulator.run(trace: Trace(requests: []), system: system, costModel: roundCostModel(), slo: looseSLO) }
    #expect(throws: SimulationError.self) {
        try ClusterSimulator.run(trace: Trace(requests: []), system: SystemSpec(name: "e", deployment: Deployment(slots: [])), costModel: roundCostModel(), slo: looseSLO)
    }
}

@Test func blockingPreprocessingStallsTheWholeStep() throws {
    let (trace, unbudgeted) = decodeWithLateArrival(images: [TraceImage(width: 10, height: 10, hash: 1)])
    var system = unbudgeted
    let plain = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    // At 0.51 one step encodes r1's 100-token image (10 ms), then one forward pass decodes r0 and
    // prefills r1's 200 tokens (10 ms fixed + 200 ms).
    #expect(close(plain.requests[1].firstToken, 0.51 + 0.220))
    system.blockingPreprocessMsPerImage = 40
    let blocked = try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    #expect(close(blocked.requests[1].firstToken, 0.51 + 0.260))
    // r0's decode waited for the same step: it finishes 40 ms later.
    #expect(close(blocked.requests[0].finish - plain.requests[0].finish, 0.040))
    system.blockingPreprocessMsPerImage = -1
    #expect(throws: SimulationError.self) {
        try ClusterSimulator.simulate(trace: trace, system: system, costModel: roundCostModel(), slo: looseSLO, predictor: nil)
    }
}
