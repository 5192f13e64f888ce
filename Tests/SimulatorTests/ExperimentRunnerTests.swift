import Foundation
import Testing
@testable import Cluster
@testable import Simulator

private func writeExperiment(_ json: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sim-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    try encoder.encode(roundCostModel()).write(to: dir.appendingPathComponent("cost.json"))
    let url = dir.appendingPathComponent("experiment.json")
    try Data(json.utf8).write(to: url)
    return url
}

@Test func experimentComparesSystemsOnTheSameTrace() throws {
    let url = try writeExperiment("""
    {"name": "t", "costModel": "cost.json",
     "trace": {"synthetic": {"durationSeconds": 120, "ratePerSecond": 2, "seed": 4}},
     "slo": {"classes": {"standard": {"ttft": 2, "tpot": 0.05}}}, "baseline": "mono", "sweep": [1, 3],
     "systems": [{"name": "mono", "deployment": {"slots": [{"role": "mono", "group": "multimodal", "count": 2}]}},
                 {"name": "epd", "encodeDispatcher": "intra-request",
                  "deployment": {"slots": [{"role": "encode", "group": "multimodal", "count": 1},
                                           {"role": "prefill", "group": "multimodal", "count": 1},
                                           {"role": "decode", "group": "multimodal", "count": 1}]}}]}
    """)
    let report = try ExperimentRunner.run(config: SimulationConfig.load(from: url), baseDirectory: url.deletingLastPathComponent())
    #expect(report.runs.map(\.system) == ["mono", "epd", "mono", "epd"])
    #expect(report.runs.map(\.offeredRate) == [1, 1, 3, 3])
    #expect(report.comparisons.count == 2 && report.comparisons.allSatisfy { $0.system == "epd" })
    let mono = report.runs[2], epd = report.runs[3]
    #expect(mono.requests == epd.requests)
    let c = report.comparisons[1]
    #expect(abs(c.ttftP99Speedup - mono.ttft.p99 / epd.ttft.p99) < 1e-12)
    // The sweep override replaces the config's rates.
    let one = try ExperimentRunner.run(config: SimulationConfig.load(from: url), baseDirectory: url.deletingLastPathComponent(), sweep: [2])
    #expect(one.runs.map(\.offeredRate) == [2, 2])
    let svg = SVGPlot.latencyVersusRate(report)
    #expect(svg.hasPrefix("<svg") && svg.contains("polyline") && svg.contains(">epd<"))
    #expect(SVGPlot.instancesOverTime(report).contains("active instances"))
}

@Test func splitOptimiserPicksTheBestGoodput() throws {
    let url = try writeExperiment("""
    {"name": "opt", "costModel": "cost.json",
     "trace": {"synthetic": {"durationSeconds": 60, "ratePerSecond": 3, "multimodalFraction": 1, "minImages": 4, "maxImages": 4, "seed": 2}},
     "slo": {"classes": {"standard": {"ttft": 1.5, "tpot": 0.05}}}, "sweep": [3],
     "systems": [{"name": "epd", "optimizeSplit": {"batchLimits": [4]},
                  "deployment": {"slots": [{"role": "encode", "group": "multimodal", "count": 1},
                                           {"role": "prefill", "group": "multimodal", "count": 1},
                                           {"role": "decode", "group": "multimodal", "count": 3}]}}]}
    """)
    let report = try ExperimentRunner.run(config: SimulationConfig.load(from: url), baseDirectory: url.deletingLastPathComponent())
    let chosen = try #require(report.optimizedSplits["epd"])
    #expect(chosen.instances == 5)
    // Re-simulate every split: none may beat the chosen one.
    let config = try SimulationConfig.load(from: url)
    let cost = try CostModel.load(from: url.deletingLastPathComponent().appendingPathComponent("cost.json"))
    let trace = try ExperimentRunner.buildTrace(config.trace, rate: 3, baseDirectory: url.deletingLastPathComponent())
    let slo = config.slo.resolved(config.sloUnit ?? .seconds, trace: trace, costModel: cost)
    var best = -1.0
    for c in try ConfigOptimizer().candidates(instances: 5, batchLimits: [4]) {
        var s = config.systems[0]
        s.deployment = c.deployment
        s.maxPrefillBatch = c.maxBatch
        best = max(best, try ClusterSimulator.run(trace: trace, system: s, costModel: cost, slo: slo).goodput)
    }
    #expect(abs(report.runs[0].goodput - best) < 1e-12)
}

@Test func badExperimentsAreRejected() throws {
    let noSystems = try writeExperiment("""
    {"name": "x", "costModel": "cost.json", "trace": {"synthetic": {}}, "slo": {"classes": {"standard": {"ttft": 1, "tpot": 1}}}, "systems": []}
    """)
    #expect(throws: SimulationError.self) { try ExperimentRunner.run(config: SimulationConfig.load(from: noSystems), baseDirectory: noSystems.deletingLastPathComponent()) }
    let badOption = try writeExperiment("""
    {"name": "x", "costModel": "cost.json", "trace": {"synthetic": {"durationSeconds": 10}}, "slo": {"classes": {"standard": {"ttft": 1, "tpot": 1}}},
     "systems": [{"name": "a", "planners": [{"name": "stage-autoscaler", "speed": 2}],
                  "deployment": {"slots": [{"role": "mono", "group": "multimodal", "count": 1}]}}]}
    """)
    let optionError = #expect(throws: SimulationError.self) {
        try ExperimentRunner.run(config: SimulationConfig.load(from: badOption), baseDirectory: badOption.deletingLastPathComponent())
    }
    // The message names the planner and the option (quoted, so match around the quotes).
    #expect(optionError.map { "\($0)".contains("has no option") && "\($0)".contains("speed") } == true)
    let missingSLO = try writeExperiment("""
    {"name": "x", "costModel": "cost.json", "trace": {"synthetic": {"durationSeconds": 10}}, "slo": {},
     "systems": [{"name": "a", "deployment": {"slots": [{"role": "mono", "group": "multimodal", "count": 1}]}}]}
    """)
    #expect(throws: SimulationError.self) { try ExperimentRunner.run(config: SimulationConfig.load(from: missingSLO), baseDirectory: missingSLO.deletingLastPathComponent()) }
    #expect(throws: SimulationError.self) { try SimulationConfig.load(from: URL(fileURLWithPath: "/nonexistent/config.json")) }
}

@Test func autoscalerFollowsTheLoadInTheSimulator() throws {
    var o = SyntheticTraceGenerator.Options()
    o.durationSeconds = 1800
    o.ratePerSecond = 4
    o.diurnalAmplitude = 0.9
    o.diurnalPeriodSeconds = 1800
    o.seed = 8
    let trace = try SyntheticTraceGenerator(o).generate()
    var system = SystemSpec(name: "auto", deployment: Deployment(slots: [.init(role: .encode, group: .multimodal, count: 4), .init(role: .mono, group: .multimodal, count: 8)]))
    system.policies.planners = [PlannerSpec("stage-autoscaler", options: ["targetUtilization": 0.5])]
    let fixed = SystemSpec(name: "fixed", deployment: system.deployment)
    let slo = SLOClasses(LatencySLO(ttft: 5, tpot: 0.1))
    let scaled = try ClusterSimulator.run(trace: trace, system: system, costModel: roundCostModel(), slo: slo)
    let baseline = try ClusterSimulator.run(trace: trace, system: fixed, costModel: roundCostModel(), slo: slo)
    #expect(scaled.reconfigurations > 0)
    #expect(scaled.instanceHours < baseline.instanceHours)
    // The fleet shrinks in the trough and grows again at the peak.
    let counts = scaled.timeline.map(\.active)
    let trough = try #require(counts.min()), peak = try #require(counts.max())
    #expect(trough < 12 && peak > trough)
}
