import Cluster
import Engine
import Foundation
import FrontEnd
import Testing

/// Moving workers between roles while requests run.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ElasticTests {
    @Test func roleSwitchUnderLoadLosesNoRequest() async throws {
        let frontEnd = try await Support.frontEnd("""
            groups:
              - group: text
                workers:
                  - {role: prefill, count: 1}
                  - {role: decode, count: 2}
            """)
        let prompts = (0 ..< 16).map { Support.prompts[$0 % Support.prompts.count] }
        let expected = try await Support.singleProcess(Array(Support.prompts), tokens: 40)
        let outputs = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (i, prompt) in prompts.enumerated() {
                group.addTask {
                    (i, try await Support.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Support.greedy(40)))).ids)
                }
            }
            // Once decoding is under way, a busy decode worker turns into a second prefill worker.
            #expect(await Support.eventually { frontEnd.clusterStatus().contains { $0.role == .decode && $0.runningDecodes > 0 } })
            let busy = try #require(frontEnd.clusterStatus().first { $0.role == .decode && $0.runningDecodes > 0 }?.id)
            #expect(frontEnd.switchRole(slot: busy, to: .prefill))
            // The last decode worker must stay: a second switch is refused.
            let other = try #require(frontEnd.clusterStatus().first { $0.role == .decode && $0.id != busy }?.id)
            #expect(!frontEnd.switchRole(slot: other, to: .prefill))
            var result = Array(repeating: [Int](), count: prompts.count)
            for try await (i, ids) in group { result[i] = ids }
            return (result, busy)
        }
        #expect(outputs.0 == prompts.indices.map { expected[$0 % Support.prompts.count] })
        #expect(await Support.eventually { frontEnd.completedRoleSwitches == 1 })
        let status = frontEnd.clusterStatus()
        #expect(status[outputs.1].role == .prefill && status[outputs.1].isActive)
        #expect(status.filter { $0.role == .prefill }.count == 2)
        #expect(frontEnd.retriedRequests == 0)
        // The new prefill worker takes work: both prefill workers get some of a new burst.
        let burst = try await withThrowingTaskGroup(of: [Int].self) { group in
            for prompt in Support.prompts where prompt.count > 1 {
                group.addTask { try await Support.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Support.greedy(5)))).ids }
            }
            return try await group.reduce(into: 0) { count, _ in count += 1 }
        }
        #expect(burst == Support.prompts.filter { $0.count > 1 }.count)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
