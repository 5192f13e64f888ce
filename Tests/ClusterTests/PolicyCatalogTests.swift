import CoreUtilities
import Foundation
import Testing
@testable import Cluster

private let catalogCapacity = InstanceCapacity(
    encodeTokensPerSecond: 1000, prefillTokensPerSecond: 4000, decodeTokensPerSecond: 400, requestsPerSecond: 4,
    kvTransferSecondsPerToken: 2e-6, decodeStepSeconds: 0.004, decodeStepSecondsPerSequence: 0.0005, controlNetSecondsPerCall: 0.05)

/// One catalog for the live front end and the simulator: names, options and defaults.
@Suite struct PolicyCatalogTests {
    @Test func unknownNamesAndOptionsAreClearErrors() {
        #expect(throws: ClusterError.invalidArgument("unknown router 'nope'; known: least-loaded, modality, least-pending-image-tokens")) {
            try PolicyCatalog.router("nope")
        }
        #expect(throws: ClusterError.self) { try PolicyCatalog.encodeDispatcher("round-robin") }
        #expect(throws: ClusterError.self) { try PolicyCatalog.batcher("lifo") }
        // The front end's old name of the elastic partitioner is not an alias.
        #expect(throws: ClusterError.self) { try PolicyCatalog.planner("elastic-partitioner", capacity: catalogCapacity) }
        #expect(throws: ClusterError.invalidArgument("planner 'role-switcher' has no option 'speed'; its options are interval, minimumQueue, cooldownRounds")) {
            try PolicyCatalog.planner(PlannerSpec("role-switcher", options: ["speed": 2]), capacity: catalogCapacity)
        }
        #expect(throws: ClusterError.self) { try PolicyCatalog.planner(PlannerSpec("burst-tolerance", options: ["interval": 0]), capacity: catalogCapacity) }
    }

    @Test func plannersTakeTheirOwnDefaultsUnlessOverridden() throws {
        let plain = try #require(try PolicyCatalog.planner("role-switcher", capacity: catalogCapacity) as? RoleSwitcher)
        #expect(plain.interval == RoleSwitcher().interval && plain.cooldownRounds == RoleSwitcher().cooldownRounds)
        let tuned = try #require(try PolicyCatalog.planner(PlannerSpec("role-switcher", options: ["interval": 1, "cooldownRounds": 2]),
                                                            capacity: catalogCapacity) as? RoleSwitcher)
        #expect(tuned.interval == 1 && tuned.cooldownRounds == 2 && tuned.minimumQueue == RoleSwitcher().minimumQueue)
        let scaler = try #require(try PolicyCatalog.planner(PlannerSpec("stage-autoscaler", options: ["evaluationPeriod": 30]),
                                                             capacity: catalogCapacity, maxInstances: 8) as? StageAutoscaler)
        #expect(scaler.evaluationPeriod == 30 && scaler.maximumInstances == 8 && scaler.interval == StageAutoscaler(capacity: catalogCapacity).interval)
        for name in PolicyCatalog.plannerOptions.keys { _ = try PolicyCatalog.planner(PlannerSpec(name), capacity: catalogCapacity) }
    }

    @Test func aSpecDecodesNamesAndPlannerEntriesAndRejectsUnknownOnes() throws {
        let spec = try JSONDecoder().decode(PolicySpec.self, from: Data(#"""
            {"router": "modality", "planners": ["burst-tolerance", {"name": "stage-autoscaler", "interval": 30}]}
            """#.utf8))
        #expect(spec == PolicySpec(router: "modality", planners: ["burst-tolerance", PlannerSpec("stage-autoscaler", options: ["interval": 30])]))
        #expect(try JSONDecoder().decode(PolicySpec.self, from: Data("{}".utf8)) == PolicySpec())
        let roundTrip = try JSONDecoder().decode(PolicySpec.self, from: JSONEncoder().encode(spec))
        #expect(roundTrip == spec)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PolicySpec.self, from: Data(#"{"planners": ["elastic-partitioner"]}"#.utf8)) }
    }
}

/// Every planner on its own interval, over its own window of the load.
@Suite struct FleetScheduleTests {
    /// Records what it was shown.
    struct Recorder: FleetPlanner {
        var interval: Double
        var seen: [LoadObservation] = []
        mutating func plan(_ cluster: some ClusterView, load: LoadObservation) -> [FleetAction] {
            seen.append(load)
            return []
        }
    }

    @Test func eachPlannerRunsOnItsIntervalOverItsOwnWindow() throws {
        var schedule = FleetSchedule(planners: [Recorder(interval: 1), Recorder(interval: 3)], start: 0)
        let view = ClusterSnapshot(now: 0, instances: [], cachedImages: [:])
        func request(_ id: Int) -> RequestInfo {
            RequestInfo(id: id, arrival: 0, textTokens: 10, images: [ImageInput(width: 2, height: 2, tokens: 5, id: ImageID(number: 1))],
                        slo: LatencySLO(ttft: 1, tpot: 1), predictedOutputTokens: 20)
        }
        var order: [(Int, Double)] = []
        var id = 0
        for second in 1 ... 6 {
            schedule.arrived(request(id)); id += 1
            schedule.finished(met: second % 2 == 0)
            while let next = schedule.next, next.time <= Double(second) {
                order.append((next.planner, next.time))
                _ = schedule.run(next.planner, at: next.time, on: view)
            }
        }
        #expect(order.map(\.0) == [0, 0, 0, 1, 0, 0, 0, 1])
        let fast = try #require(schedule.planners[0] as? Recorder).seen
        let slow = try #require(schedule.planners[1] as? Recorder).seen
        #expect(fast.count == 6 && slow.count == 2)
        // One request a second in both windows, whatever their length; attainment over each window.
        #expect(fast.allSatisfy { $0.window == 1 && $0.perGroup[.multimodal]?.requestsPerSecond == 1 })
        #expect(slow.allSatisfy { $0.window == 3 && $0.perGroup[.multimodal]?.imageTokensPerSecond == 5 })
        #expect(slow[0].perGroup[.multimodal]?.prefillTokensPerSecond == 15 && slow[0].perGroup[.multimodal]?.decodeTokensPerSecond == 20)
        #expect(fast.map(\.sloAttainment) == [0, 1, 0, 1, 0, 1])
        #expect(slow[0].sloAttainment == 1.0 / 3 && slow[1].sloAttainment == 2.0 / 3)
    }

    @Test func theCandidateFilterFallsBackToOtherGroups() {
        let view = ClusterSnapshot(now: 0, instances: [
            InstanceStatus(id: 0, role: .prefill, group: .text),
            InstanceStatus(id: 1, role: .decode, group: .text),
            InstanceStatus(id: 2, role: .mono, group: .multimodal),
            InstanceStatus(id: 3, role: .encode, group: .multimodal),
            InstanceStatus(id: 4, role: .decode, group: .multimodal, isActive: false),
        ], cachedImages: [:])
        #expect(view.candidates(for: .prefill, group: .text) == [0])
        #expect(view.candidates(for: .decode, group: .multimodal) == [2])
        #expect(view.candidates(for: .encode, group: .multimodal) == [3])
        // No encoder in the text group: any group's.
        #expect(view.candidates(for: .encode, group: .text) == [3])
    }
}
