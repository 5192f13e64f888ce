import Foundation
import Testing

@testable import Bench

@Suite struct AddOnTraceTests {
    static let controlNets = ["canny", "depth", "pose", "edges"]
    static let loras = (0 ..< 20).map { "lora-\($0)" }

    static func draw(seed: UInt64, count: Int = 4000) -> [AddOnTraceEntry] {
        AddOnTrace.synthetic(count: count, model: "sd15", controlNets: controlNets, loras: loras,
                             arrivals: ArrivalSchedule(rate: 4, burstiness: 1, seed: seed + 1), seed: seed)
    }

    @Test func theSyntheticMixIsThePapers() {
        let trace = Self.draw(seed: 7)
        let controlled = Double(trace.filter { !$0.controlnets.isEmpty }.count) / Double(trace.count)
        let styled = Double(trace.filter { !$0.loras.isEmpty }.count) / Double(trace.count)
        #expect(abs(controlled - AddOnTrace.controlNetProbability) < 0.01 && abs(styled - AddOnTrace.loraProbability) < 0.015)
        for entry in trace {
            #expect(entry.controlnets.count <= 3 && entry.loras.count <= 2 && entry.baseModelId == "sd15")
            #expect(Set(entry.controlnets).count == entry.controlnets.count && Set(entry.loras).count == entry.loras.count)
        }
        // 1, 2 and 3 ControlNets equally often among requests with some.
        let sizes = Dictionary(grouping: trace.filter { !$0.controlnets.isEmpty }, by: \.controlnets.count).mapValues(\.count)
        #expect(sizes.keys.sorted() == [1, 2, 3] && sizes.values.allSatisfy { abs(Double($0) / Double(trace.count) - 0.98 / 3) < 0.03 })
        // Zipf: the first LoRA is used more than the second, which is used more than the last.
        let uses = Dictionary(grouping: trace.flatMap(\.loras), by: { $0 }).mapValues(\.count)
        #expect(uses["lora-0", default: 0] > uses["lora-1", default: 0] && uses["lora-1", default: 0] > 3 * uses["lora-19", default: 0])
        // Poisson arrivals at 4 per second.
        #expect(zip(trace, trace.dropFirst()).allSatisfy { $0.timestamp <= $1.timestamp })
        #expect(abs(trace.last!.timestamp / Double(trace.count - 1) - 0.25) < 0.02)
    }

    @Test func aSeedGivesOneTraceAndItSurvivesAFile() throws {
        let trace = Self.draw(seed: 3, count: 50)
        #expect(trace == Self.draw(seed: 3, count: 50) && trace != Self.draw(seed: 4, count: 50))
        #expect(try AddOnTrace.load(AddOnTrace.encode(trace)) == trace)
        let array = Data(#"[{"timestamp": 2, "base_model_id": "m", "controlnets": [], "loras": ["a"]}, {"timestamp": 1, "base_model_id": "m", "controlnets": ["c"], "loras": []}]"#.utf8)
        #expect(try AddOnTrace.load(array).map(\.timestamp) == [1, 2])
        #expect(throws: (any Error).self) { try AddOnTrace.load(Data(#"{"timestamp": 1}"#.utf8)) }
    }

    @Test func namesAreNeverMoreThanThereAre() {
        let trace = AddOnTrace.synthetic(count: 200, model: "m", controlNets: ["only"], loras: [],
                                         arrivals: ArrivalSchedule(rate: .infinity, burstiness: 1, seed: 0), seed: 1)
        #expect(trace.allSatisfy { $0.loras.isEmpty && $0.controlnets.count <= 1 && $0.timestamp == 0 })
        #expect(trace.contains { $0.controlnets == ["only"] })
    }
}
