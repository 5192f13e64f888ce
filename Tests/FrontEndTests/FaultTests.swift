#if canImport(Glibc)
import Glibc
#endif
import Cluster
import Engine
import Foundation
import FrontEnd
import Synchronization
import TestFixtures
import Testing
import ServingAPI

/// Workers dying or hanging under the front end.
@Suite(.serialized, .timeLimit(.minutes(3))) struct FaultTests {
    static let decodePair = """
        heartbeat_interval_ms: 100
        heartbeat_timeout_ms: 1000
        max_retries: 2
        groups:
          - group: text
            workers:
              - {role: prefill, count: 1}
              - {role: decode, count: 2}
        """

    /// One prefill and one decode worker: a lost decode worker leaves no sibling to retry on.
    static func onePair(maxRetries: Int) -> String {
        """
        heartbeat_interval_ms: 100
        heartbeat_timeout_ms: 1000
        max_retries: \(maxRetries)
        groups:
          - group: text
            workers:
              - {role: prefill, count: 1}
              - {role: decode, count: 1}
        """
    }

    /// The decode slot running the request right now.
    static func busyDecodeSlot(_ frontEnd: ClusterFrontEnd) -> Int? {
        frontEnd.clusterStatus().first { $0.role == .decode && $0.runningDecodes > 0 }?.id
    }

    @Test func killingADecodeWorkerMidStreamFinishesTheRequestOnItsSibling() async throws {
        let frontEnd = try await Support.frontEnd(Self.decodePair)
        let prompt = Support.prompts[3]
        let expected = try await Support.singleProcess([prompt], tokens: 150)[0]
        let killed = Mutex<(slot: Int, pid: Int32)?>(nil)
        // A first run warms the workers. The tiny model can then finish all its tokens before the busy
        // slot is seen, so the killing run is tried again until a kill lands mid-stream.
        var out = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(150))))
        for _ in 0 ..< 5 where killed.withLock({ $0 == nil }) {
            let stream = try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(150)))
            out = try await Fixtures.collect(stream) { count in
                guard count >= 3, killed.withLock({ $0 == nil }), let slot = Self.busyDecodeSlot(frontEnd),
                      let pid = frontEnd.workerProcessId(slot: slot) else { return }
                kill(pid, SIGKILL)
                killed.withLock { $0 = (slot, pid) }
            }
        }
        let victim = try #require(killed.withLock { $0 })
        // The client saw every token exactly once, as the single-process engine generates them.
        #expect(out.ids == expected)
        #expect(out.info?.completionTokens == 150)
        #expect(frontEnd.retriedRequests == 1)
        // The supervisor replaced the worker: a new process registered in the same slot.
        #expect(await Fixtures.eventually {
            frontEnd.restarts(slot: victim.slot) == 1 && frontEnd.clusterStatus()[victim.slot].isActive
                && frontEnd.workerProcessId(slot: victim.slot) != victim.pid
        })
        #expect(await Fixtures.eventually { kill(victim.pid, 0) != 0 })
        // No KV blocks leaked on the survivors: nothing parked on the prefill worker, nothing held anywhere.
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.kvUsedTokens == 0 } })
        // The restarted worker serves again.
        let again = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(20))))
        #expect(again.ids == Array(expected.prefix(20)))
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    @Test func losingTheOnlyDecodeWorkerWithoutRetriesIsAClearError() async throws {
        let frontEnd = try await Support.frontEnd(Self.onePair(maxRetries: 0))
        let stream = try frontEnd.submit(InferenceRequest(prompt: .tokens(Support.prompts[0]), parameters: Fixtures.greedy(200)))
        let killed = Mutex(false)
        await #expect {
            _ = try await Fixtures.collect(stream) { count in
                guard count >= 3, !killed.withLock({ $0 }), let slot = Self.busyDecodeSlot(frontEnd),
                      let pid = frontEnd.workerProcessId(slot: slot) else { return }
                kill(pid, SIGKILL)
                killed.withLock { $0 = true }
            }
        } throws: { error in
            guard case let .internalFailure(message) = error as? EngineError else { return false }
            return message.contains("failed while serving the request")
        }
        #expect(killed.withLock { $0 })
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.isActive && $0.kvUsedTokens == 0 } })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// The only prefill worker dies holding queued prompts: they are prefilled again on its
    /// replacement and decode as if nothing happened.
    @Test func killingThePrefillWorkerRePrefillsOnItsReplacement() async throws {
        // A heartbeat timeout longer than the test: the stopped worker must be found dead by its
        // kill, not replaced as hung before its queue is seen full (which a loaded machine allowed).
        let frontEnd = try await Support.frontEnd(Self.decodePair.replacingOccurrences(of: "heartbeat_timeout_ms: 1000", with: "heartbeat_timeout_ms: 60000"))
        let prefill = try frontEnd.slot(of: .prefill)
        let pid = try #require(frontEnd.workerProcessId(slot: prefill))
        let prompts = Array(Support.prompts.filter { $0.count > 1 }.prefix(3))
        let expected = try await Support.singleProcess(prompts, tokens: 10)
        // Stopped first, so the prompts are certainly queued on it when it dies.
        #expect(kill(pid, SIGSTOP) == 0)
        let outputs = try await Support.concurrently(prompts, tokens: 10, on: frontEnd) {
            #expect(await Fixtures.eventually { frontEnd.clusterStatus()[prefill].queuedRequests == prompts.count })
            kill(pid, SIGKILL)
        }
        #expect(outputs == expected)
        #expect(frontEnd.retriedRequests == prompts.count)
        #expect(frontEnd.restarts(slot: prefill) == 1 && frontEnd.workerProcessId(slot: prefill) != pid)
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.kvUsedTokens == 0 } })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// The only prefill worker dies while its prompts' KV waits for the decode worker's pull (the
    /// decode worker is stopped meanwhile): each pull fails, and the requests are prefilled again on
    /// the replacement, a prefill loss, not the decode worker's, with one retry each.
    @Test func killingThePrefillWorkerBeforeTheDecodePullRePrefillsOnItsReplacement() async throws {
        let frontEnd = try await Support.frontEnd(Self.onePair(maxRetries: 1)
            .replacingOccurrences(of: "heartbeat_timeout_ms: 1000", with: "heartbeat_timeout_ms: 60000"))
        let prefill = try frontEnd.slot(of: .prefill)
        let decode = try frontEnd.slot(of: .decode)
        let prefillPid = try #require(frontEnd.workerProcessId(slot: prefill))
        let decodePid = try #require(frontEnd.workerProcessId(slot: decode))
        let prompts = Array(Support.prompts.filter { $0.count > 1 }.prefix(3))
        let expected = try await Support.singleProcess(prompts, tokens: 10)
        // The decode worker has pulled from the prefill worker before: it holds a connection to it.
        #expect(try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompts[0]), parameters: Fixtures.greedy(10)))).ids == expected[0])
        #expect(kill(decodePid, SIGSTOP) == 0)
        let outputs = try await Support.concurrently(prompts, tokens: 10, on: frontEnd) {
            // Every prompt is prefilled and its KV parked; the decode worker has its job but has not pulled.
            #expect(await Fixtures.eventually { frontEnd.clusterStatus()[decode].runningDecodes == prompts.count })
            kill(prefillPid, SIGKILL)
            kill(decodePid, SIGCONT)
        }
        #expect(outputs == expected)
        #expect(frontEnd.retriedRequests == prompts.count)
        #expect(frontEnd.restarts(slot: prefill) == 1 && frontEnd.restarts(slot: decode) == 0)
        #expect(frontEnd.workerProcessId(slot: decode) == decodePid)
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.isActive && $0.kvUsedTokens == 0 } })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// The prefill worker's replacement listens on the dead worker's transfer socket: the decode
    /// worker's connection kept from before the death is not the replacement's, and the first
    /// request after the restart is served without a retry (none is allowed here).
    @Test func thePrefillWorkersReplacementIsPulledFromWithoutARetry() async throws {
        let frontEnd = try await Support.frontEnd(Self.onePair(maxRetries: 0))
        let prefill = try frontEnd.slot(of: .prefill)
        let prefillPid = try #require(frontEnd.workerProcessId(slot: prefill))
        let prompt = try #require(Support.prompts.first { $0.count > 1 })
        let expected = try await Support.singleProcess([prompt], tokens: 10)[0]
        #expect(try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(10)))).ids == expected)
        kill(prefillPid, SIGKILL)
        #expect(await Fixtures.eventually {
            frontEnd.restarts(slot: prefill) == 1 && frontEnd.clusterStatus()[prefill].isActive && frontEnd.workerProcessId(slot: prefill) != prefillPid
        })
        let out = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(10))))
        #expect(out.ids == expected)
        #expect(frontEnd.retriedRequests == 0)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// The only decode worker hangs before pulling a prompt's KV: the request is retried once it is
    /// replaced, and the KV the failed try parked on the prefill worker is freed then, not when the
    /// prefill worker's parked-KV timeout (60 s) passes.
    @Test func kvParkedForAFailedTryIsFreedWhenTheRequestIsRetried() async throws {
        let frontEnd = try await Support.frontEnd(Self.onePair(maxRetries: 2))
        let prefill = try frontEnd.slot(of: .prefill)
        let decode = try frontEnd.slot(of: .decode)
        let prompt = try #require(Support.prompts.max { $0.count < $1.count })
        let expected = try await Support.singleProcess([prompt], tokens: 5)[0]
        kill(try #require(frontEnd.workerProcessId(slot: decode)), SIGSTOP)
        let out = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(5))))
        #expect(out.ids == expected)
        #expect(frontEnd.retriedRequests == 1 && frontEnd.restarts(slot: decode) == 1)
        #expect(await Fixtures.eventually(10) { frontEnd.clusterStatus()[prefill].kvUsedTokens == 0 })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    @Test func aHungWorkerIsFoundByHeartbeatTimeoutAndReplaced() async throws {
        let frontEnd = try await Support.frontEnd(Self.decodePair)
        let slot = try frontEnd.slot(of: .decode)
        let pid = try #require(frontEnd.workerProcessId(slot: slot))
        kill(pid, SIGSTOP)
        // Requests keep being served by the sibling while the hung worker is detected.
        let prompt = Support.prompts[1]
        let expected = try await Support.singleProcess([prompt], tokens: 10)[0]
        for _ in 0 ..< 3 {
            let out = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(10))))
            #expect(out.ids == expected)
        }
        #expect(await Fixtures.eventually {
            frontEnd.restarts(slot: slot) == 1 && frontEnd.clusterStatus()[slot].isActive && frontEnd.workerProcessId(slot: slot) != pid
        })
        #expect(await Fixtures.eventually { kill(pid, 0) != 0 })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
