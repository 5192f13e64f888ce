import Cluster
import Foundation
import Testing
@testable import Simulator

/// The simulator judges requests by the SLO classes a live server takes.
@Suite struct SimulatedSLOClassesTests {
    static let classes = SLOClasses(objectives: ["tight": LatencySLO(ttft: 0.2, tpot: 100), "relaxed": LatencySLO(ttft: 100, tpot: 100)],
                                    defaultClass: "relaxed")

    /// Two requests alone, 120 ms to their first token each (10 ms + 110 prompt tokens × 1 ms).
    static func trace(_ classes: [String?]) -> Trace {
        Trace(requests: classes.enumerated().map { i, name in
            TraceRequest(arrival: Double(i) * 10, textTokens: 110, images: [], outputTokens: 2, sloClass: name)
        })
    }

    @Test func eachRequestIsHeldToItsClass() throws {
        let system = SystemSpec(name: "m", deployment: .monolithic(1))
        let tight = SLOClasses(objectives: ["tight": LatencySLO(ttft: 0.1, tpot: 100), "relaxed": LatencySLO(ttft: 100, tpot: 100)],
                               defaultClass: "relaxed")
        // The request of the tight class misses its 100 ms, the default class's request meets its 100 s.
        let run = try ClusterSimulator.run(trace: Self.trace(["tight", nil]), system: system, costModel: roundCostModel(), slo: tight)
        #expect(run.sloAttainment == 0.5)
        #expect(try ClusterSimulator.run(trace: Self.trace(["tight", nil]), system: system, costModel: roundCostModel(), slo: Self.classes).sloAttainment == 1)
    }

    @Test func aClassTheConfigDoesNotDefineIsRefused() {
        let error = #expect(throws: SimulationError.self) {
            try ClusterSimulator.run(trace: Self.trace(["gold"]), system: SystemSpec(name: "m", deployment: .monolithic(1)),
                                     costModel: roundCostModel(), slo: Self.classes)
        }
        #expect(error.map { "\($0)".contains("gold") } == true)
    }

    @Test func loneRequestUnitsScaleEveryClass() {
        let seconds = SLOClasses(objectives: ["a": LatencySLO(ttft: 2, tpot: 3), "b": LatencySLO(ttft: 8, tpot: 12)], defaultClass: "a")
            .resolved(.loneRequest, trace: Self.trace([nil, nil]), costModel: roundCostModel())
        // Alone: 120 ms to the first token (no images); a decode step: 10 ms.
        #expect(abs(seconds.objectives["a"]!.ttft - 0.24) < 1e-9 && abs(seconds.objectives["b"]!.ttft - 0.96) < 1e-9)
        #expect(abs(seconds.objectives["a"]!.tpot - 0.03) < 1e-9 && abs(seconds.objectives["b"]!.tpot - 0.12) < 1e-9)
        #expect(seconds.defaultClass == "a")
    }

    @Test func configsDecodeTheClassesAServerTakes() throws {
        let json = #"{"classes": {"interactive": {"ttft": 1, "tpot": 0.1}, "standard": {"ttft": 10, "tpot": 1}}, "defaultClass": "standard"}"#
        let decoded = try JSONDecoder().decode(SLOClasses.self, from: Data(json.utf8))
        #expect(decoded == (try SLOClasses(definitions: ["interactive=1:0.1", "standard=10:1"], defaultClass: "standard")))
        #expect(try JSONDecoder().decode(SLOClasses.self, from: JSONEncoder().encode(decoded)) == decoded)
        // One class is its own default; of several, an unnamed or undefined default is an error.
        #expect(try JSONDecoder().decode(SLOClasses.self, from: Data(#"{"classes": {"x": {"ttft": 1, "tpot": 1}}}"#.utf8)).defaultClass == "x")
        for bad in [#"{"classes": {"x": {"ttft": 1, "tpot": 1}, "y": {"ttft": 2, "tpot": 2}}}"#,
                    #"{"classes": {"x": {"ttft": 1, "tpot": 1}}, "defaultClass": "y"}"#,
                    #"{"classes": {"x": {"ttft": 0, "tpot": 1}}}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(SLOClasses.self, from: Data(bad.utf8)) }
        }
    }
}
