import Cluster
import Engine
import Foundation
import FrontEnd
import ServingAPI
import Simulator
import TestFixtures
import Testing

/// Cache-aware routing on live workers: a prompt sharing a long prefix with one served earlier
/// goes back to the worker that holds that prefix, even when another worker is less loaded; the
/// simulator, given the same requests as a trace naming the shared prefix, routes them the same way.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PrefixAffinityTests {
    static let topology = """
        router: modality
        groups:
          - group: text
            workers:
              - {role: mono, count: 2}
        """

    @Test func aSharedPrefixReturnsToTheWorkerThatCachedIt() async throws {
        let recorder = DecisionRecorder()
        let frontEnd = try await Support.frontEnd(Self.topology) { recorder.observe(&$0) }
        let prefix = Array(1 ... 64).map { $0 * 29 % 2000 + 3 }
        let first = prefix + [17, 18, 19]
        let second = prefix + [400, 401]
        let expected = try await Support.singleProcess([first, second], tokens: 8)

        // Both idle: the first prompt goes to slot 0 (the lowest id), which now holds its prefix.
        let a = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(first), parameters: Fixtures.greedy(8))))
        #expect(a.ids == expected[0])
        #expect(a.info?.cachedTokens == 0)
        // An unrelated long request makes slot 0 the busier worker...
        let busy = Task {
            try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens([1, 5, 9]), parameters: Fixtures.greedy(200))))
        }
        #expect(await Fixtures.eventually { frontEnd.clusterStatus()[0].queuedRequests == 1 })
        #expect(frontEnd.clusterStatus()[1].queuedRequests == 0)
        // ...yet the prompt sharing the prefix goes there and reuses the cached blocks; on slot 1 it
        // would have found nothing cached.
        let b = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(second), parameters: Fixtures.greedy(8))))
        #expect(b.ids == expected[1])
        #expect(b.info?.cachedTokens == 64)
        _ = try await busy.value
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        let live = recorder.decisions.withLock { $0 }

        // The same three requests as a trace: the prompts' 64 shared tokens named as one prefix,
        // the busy request still decoding when the third arrives.
        var system = try Support.simulatedSystem(Self.topology)
        system.prefixCache = true
        var trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: first.count, images: [], outputTokens: 8),
                                     TraceRequest(arrival: 1000, textTokens: 3, images: [], outputTokens: 200),
                                     TraceRequest(arrival: 1000.5, textTokens: second.count, images: [], outputTokens: 8)])
        for i in [0, 2] {
            trace.requests[i].prefixID = "shared"
            trace.requests[i].prefixTokens = prefix.count
        }
        let simulated = try ClusterSimulator.decisions(trace: trace, system: system, costModel: Support.replayCostModel(), slo: SLOClasses.standard).routing
        #expect(live.map(\.instance) == [0, 0, 0])
        #expect(live == simulated, "live:\n\(live.map(\.description).joined(separator: "\n"))\nsimulated:\n\(simulated.map(\.description).joined(separator: "\n"))")
        // Without the prefix cache the simulator would send the third request to the idle worker.
        system.prefixCache = false
        let uncached = try ClusterSimulator.decisions(trace: trace, system: system, costModel: Support.replayCostModel(), slo: SLOClasses.standard).routing
        #expect(uncached.map(\.instance) == [0, 0, 1])
    }
}
