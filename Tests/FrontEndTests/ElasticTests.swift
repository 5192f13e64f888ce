#if canImport(Glibc)
import Glibc
#endif
import Cluster
import Engine
import Foundation
import FrontEnd
import Imaging
import Synchronization
import TestFixtures
import Testing
import ServingAPI

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
        var busy = -1
        let outputs = try await Support.concurrently(prompts, tokens: 40, on: frontEnd) {
            // Once decoding is under way, a busy decode worker turns into a second prefill worker.
            #expect(await Fixtures.eventually { frontEnd.clusterStatus().contains { $0.role == .decode && $0.runningDecodes > 0 } })
            busy = try #require(frontEnd.clusterStatus().first { $0.role == .decode && $0.runningDecodes > 0 }?.id)
            #expect(frontEnd.switchRole(slot: busy, to: .prefill))
            // The last decode worker must stay: a second switch is refused.
            let other = try #require(frontEnd.clusterStatus().first { $0.role == .decode && $0.id != busy }?.id)
            #expect(!frontEnd.switchRole(slot: other, to: .prefill))
        }
        #expect(outputs == prompts.indices.map { expected[$0 % Support.prompts.count] })
        #expect(await Fixtures.eventually { frontEnd.completedRoleSwitches == 1 })
        let status = frontEnd.clusterStatus()
        #expect(status[busy].role == .prefill && status[busy].isActive)
        #expect(status.filter { $0.role == .prefill }.count == 2)
        #expect(frontEnd.retriedRequests == 0)
        // The new prefill worker takes work: both prefill workers get some of a new burst.
        let burst = try await withThrowingTaskGroup(of: [Int].self) { group in
            for prompt in Support.prompts where prompt.count > 1 {
                group.addTask { try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(5)))).ids }
            }
            return try await group.reduce(into: 0) { count, _ in count += 1 }
        }
        #expect(burst == Support.prompts.filter { $0.count > 1 }.count)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}

/// The local provider, telling which role changes the front end reported (a Kubernetes provider
/// relabels the pod on each).
final class RoleReportingProvider: InstanceProvider, @unchecked Sendable {
    let local: LocalProcessProvider
    /// The process of each instance reported, with its new role.
    let reported = Mutex<[(Int32?, InstanceRole)]>([])
    init(_ local: LocalProcessProvider) { self.local = local }
    func start(_ instance: InstanceSpec) throws(FrontEndError) -> InstanceHandle { try local.start(instance) }
    func stop(_ handle: InstanceHandle, force: Bool) { local.stop(handle, force: force) }
    func isAlive(_ handle: InstanceHandle) -> Bool { local.isAlive(handle) }
    func roleChanged(_ handle: InstanceHandle, to role: InstanceRole) { reported.withLock { $0.append((handle.processId, role)) } }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct RoleReportTests {
    /// A finished switch is reported to the provider with the worker's instance, once.
    @Test func aFinishedSwitchIsReportedToTheProvider() async throws {
        let (frontEnd, provider) = try await Support.frontEnd("""
            groups:
              - group: text
                workers:
                  - {role: prefill, count: 1}
                  - {role: decode, count: 2}
            """, wrappedBy: RoleReportingProvider.init)
        #expect(frontEnd.switchRole(slot: 2, to: .prefill))
        #expect(await Fixtures.eventually { frontEnd.completedRoleSwitches == 1 })
        let reported = provider.reported.withLock { $0 }
        #expect(reported.count == 1 && reported.first?.1 == .prefill)
        #expect(reported.first?.0 == frontEnd.workerProcessId(slot: 2))
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}

/// The planners themselves deciding, on the live cluster view.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ElasticPlannerTests {
    /// A stalled prefill worker backs its queue up; ElasticMM's partitioner moves the idle decode
    /// worker of the group to prefill, which serves new requests while the old ones wait, and none is lost.
    @Test func partitionerMovesAnIdleDecodeWorkerToABackedUpPrefillStage() async throws {
        let frontEnd = try await Support.frontEnd("""
            planners: [{name: elastic-partition, interval: 0.2}]
            heartbeat_timeout_ms: 30000
            capacity: {encodeTokensPerSecond: 1, prefillTokensPerSecond: 20, decodeTokensPerSecond: 100, requestsPerSecond: 1,
                       kvTransferSecondsPerToken: 0.000001, decodeStepSeconds: 0.01, decodeStepSecondsPerSequence: 0.001}
            groups:
              - group: text
                workers:
                  - {role: prefill, count: 1}
                  - {role: decode, count: 2}
            """)
        let prefill = try frontEnd.slot(of: .prefill)
        let pid = try #require(frontEnd.workerProcessId(slot: prefill))
        let prompts = Array(Support.prompts.filter { $0.count > 1 }.prefix(4))
        let expected = try await Support.singleProcess(prompts, tokens: 8)
        #expect(kill(pid, SIGSTOP) == 0)
        let outputs = try await Support.concurrently(prompts, tokens: 8, on: frontEnd) {
            // The backlog (prompt tokens at 20 tokens/s) exceeds half a second of work: a decode worker turns prefill.
            #expect(await Fixtures.eventually { frontEnd.clusterStatus()[prefill].pendingPrefillTokens > 0 })
            #expect(await Fixtures.eventually(20) { frontEnd.completedRoleSwitches == 1 })
            #expect(frontEnd.clusterStatus().filter { $0.role == .prefill && $0.isActive }.count == 2)
            kill(pid, SIGCONT)
        }
        #expect(outputs == expected)
        // Each stage kept a worker: the last decode worker never moved.
        #expect(frontEnd.clusterStatus().filter { $0.role == .decode && $0.isActive }.count == 1)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}

/// ElasticMM's modality-level balancer on the live cluster: a burst in one group takes an instance
/// from the other.
@Suite(.serialized, .timeLimit(.minutes(3))) struct GroupBalancerTests {
    @Test func multimodalBurstTakesADecodeWorkerFromTheTextGroup() async throws {
        let frontEnd = try await Support.frontEnd("""
            planners: [{name: burst-tolerance, interval: 0.2, burstQueueThreshold: 0.5, historyLength: 100000}]
            heartbeat_timeout_ms: 30000
            groups:
              - group: text
                workers:
                  - {role: prefill, count: 1}
                  - {role: decode, count: 2}
              - group: multimodal
                workers:
                  - {role: prefill, count: 1}
                  - {role: decode, count: 1}
            """, model: Support.llava)
        let requests = try Support.referencePrompts(Support.llava).filter { $0.imageNames.count == 1 }.prefix(3).map { ($0.request, $0.expected) }
        #expect(requests.count >= 2)
        let stalled = try #require(frontEnd.clusterStatus().first { $0.group == .multimodal && $0.role == .prefill }?.id)
        let pid = try #require(frontEnd.workerProcessId(slot: stalled))
        #expect(kill(pid, SIGSTOP) == 0)
        let outputs = try await Support.concurrently(requests.map(\.0), on: frontEnd) {
            // The multimodal queue builds up behind the stalled prefill worker: a text decode worker moves over as a prefill worker.
            #expect(await Fixtures.eventually(20) {
                frontEnd.clusterStatus().contains { $0.group == .multimodal && $0.role == .prefill && $0.isActive && $0.id != stalled }
            })
            // It serves image requests while the stalled worker is stopped.
            let extra = try await Fixtures.collect(try frontEnd.submit(requests[0].0)).ids
            #expect(extra == requests[0].1)
            kill(pid, SIGCONT)
        }
        #expect(outputs == requests.map(\.1))
        // The text group kept one worker per stage and still serves.
        let text = frontEnd.clusterStatus().filter { $0.group == .text && $0.isActive }
        #expect(Set(text.map(\.role)) == [.prefill, .decode])
        let expected = try await Support.singleProcess([Support.prompts[0]], tokens: 6, model: Support.llava)[0]
        #expect(try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(Support.prompts[0]), parameters: Fixtures.greedy(6)))).ids == expected)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
