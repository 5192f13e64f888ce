#if canImport(Glibc)
import Glibc
#endif
import Cluster
import Engine
import Foundation
import FrontEnd
import TestFixtures
import Testing
import ServingAPI

/// ModServe's per-stage autoscaler running live through the local-process instance provider.
@Suite(.serialized, .timeLimit(.minutes(3))) struct AutoscaleTests {
    /// One prefill and `decodeWorkers` decode workers under the stage autoscaler, planning every 0.3 s.
    static func autoscaled(evaluationPeriod: Double, maximumInstances: Int, decodeWorkers: Int,
                           configure: (inout FrontEndOptions) -> Void = { _ in }) async throws -> ClusterFrontEnd {
        try await Support.frontEnd("""
            planners: [{name: stage-autoscaler, interval: 0.3, evaluationPeriod: \(evaluationPeriod), maximumInstances: \(maximumInstances)}]
            groups:
              - group: text
                workers:
                  - {role: prefill, count: 1}
                  - {role: decode, count: \(decodeWorkers)}
            """, configure: configure)
    }

    /// Light load needs one worker per stage: the first evaluation retires the spare decode workers
    /// (idle ones first), whose processes exit, and the rest keeps serving.
    @Test func evaluationRetiresSpareWorkers() async throws {
        let frontEnd = try await Self.autoscaled(evaluationPeriod: 0.3, maximumInstances: 4, decodeWorkers: 3)
        let pids = (0 ..< 4).compactMap { frontEnd.workerProcessId(slot: $0) }
        #expect(pids.count == 4)
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().filter(\.isActive).count == 2 })
        let status = frontEnd.clusterStatus()
        #expect(status.filter { $0.isActive && $0.role == .decode }.count == 1)
        #expect(status.filter { $0.isActive && $0.role == .prefill }.count == 1)
        #expect(await Fixtures.eventually { pids.filter { kill($0, 0) == 0 }.count == 2 })
        let out = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(Support.prompts[0]), parameters: Fixtures.greedy(8))))
        #expect(out.ids == (try await Support.singleProcess([Support.prompts[0]], tokens: 8))[0])
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// SLO attainment under the target launches a worker of the bottleneck stage, which registers and serves.
    @Test func missedSLOLaunchesAWorker() async throws {
        let frontEnd = try await Self.autoscaled(evaluationPeriod: 1000, maximumInstances: 3, decodeWorkers: 1) { $0.sloClasses = SLOClasses(objectives: ["unmeetable": LatencySLO(ttft: 0.000001, tpot: 1)], defaultClass: "unmeetable") }
        #expect(frontEnd.clusterStatus().count == 2)
        // Every first token misses a one-microsecond objective; keep traffic flowing across planning rounds.
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline, !(frontEnd.clusterStatus().count == 3 && frontEnd.clusterStatus()[2].isActive) {
            _ = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(Support.prompts[0]), parameters: Fixtures.greedy(4))))
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(frontEnd.clusterStatus().count == 3 && frontEnd.clusterStatus()[2].isActive)
        // The fleet stops at maximum_workers however often the SLO is missed.
        for prompt in Support.prompts.prefix(3) {
            _ = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(4))))
        }
        try await Task.sleep(for: .milliseconds(800))
        #expect(frontEnd.clusterStatus().filter(\.isActive).count == 3)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
