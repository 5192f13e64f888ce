import Cluster
import Engine
import Foundation
import FrontEnd
import ServingAPI
import TestFixtures
import Testing

/// Cache-aware routing on live workers: a prompt sharing a long prefix with one served earlier
/// goes back to the worker that holds that prefix, even when another worker is less loaded.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PrefixAffinityTests {
    @Test func aSharedPrefixReturnsToTheWorkerThatCachedIt() async throws {
        let frontEnd = try await Support.frontEnd("""
            router: modality
            groups:
              - group: text
                workers:
                  - {role: mono, count: 2}
            """)
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
    }
}
