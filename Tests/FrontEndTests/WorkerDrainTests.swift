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

/// Worker processes stopped with SIGTERM (a pod scaled down, rolled or evicted): they drain as the
/// front end's own drain does, within `--drain-timeout`, and their slot is filled again.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WorkerDrainTests {
    struct Victim: Sendable {
        let slot: Int
        let pid: Int32
        /// The front end saw the worker leaving while the request still ran on it.
        var caughtMidStream = false
    }

    /// Streams `tokens` greedy tokens of `prompt`, sending SIGTERM to the decode worker running it
    /// after the third token and waiting until the front end has heard the worker is draining.
    static func streamAndTerminate(_ frontEnd: ClusterFrontEnd, _ prompt: [Int], tokens: Int) async throws
        -> (output: Fixtures.Collected, victim: Victim?)
    {
        let victim = Mutex<Victim?>(nil)
        let stream = try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(tokens)))
        let output = try await Fixtures.collect(stream) { count in
            guard count >= 3, victim.withLock({ $0 == nil }), let slot = FaultTests.busyDecodeSlot(frontEnd),
                  let pid = frontEnd.workerProcessId(slot: slot) else { return }
            kill(pid, SIGTERM)
            var signalled = Victim(slot: slot, pid: pid)
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                let status = frontEnd.clusterStatus()[slot]
                if !status.isActive {
                    signalled.caughtMidStream = status.runningDecodes > 0
                    break
                }
                usleep(200)
            }
            victim.withLock { $0 = signalled }
        }
        return (output, victim.withLock { $0 })
    }

    /// The signalled worker's process is gone and a new one serves in its slot.
    static func replaced(_ frontEnd: ClusterFrontEnd, _ victim: Victim, restartsBefore: Int) async -> Bool {
        await Fixtures.eventually(30) {
            kill(victim.pid, 0) != 0 && frontEnd.restarts(slot: victim.slot) == restartsBefore + 1
                && frontEnd.clusterStatus()[victim.slot].isActive && frontEnd.workerProcessId(slot: victim.slot) != victim.pid
        }
    }

    @Test func aWorkerStoppedWithSIGTERMFinishesItsRequestLeavesAndIsReplaced() async throws {
        let frontEnd = try await Support.frontEnd(FaultTests.decodePair)
        let prompt = Support.prompts[0]
        let expected = try await Support.singleProcess([prompt], tokens: 200)[0]
        _ = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(20))))
        // The tiny model may finish every token before the front end hears of the drain; tried
        // again until the drain begins while the request still runs on the worker.
        var caught: (output: Fixtures.Collected, victim: Victim)?
        for _ in 0 ..< 5 where caught == nil {
            let restarts = frontEnd.clusterStatus().map { frontEnd.restarts(slot: $0.id) }
            let (output, victim) = try await Self.streamAndTerminate(frontEnd, prompt, tokens: 200)
            #expect(output.ids == expected)
            guard let victim else { continue }
            // Every SIGTERM, caught mid-stream or not, ends in a clean exit and a replacement.
            #expect(await Self.replaced(frontEnd, victim, restartsBefore: restarts[victim.slot]))
            if victim.caughtMidStream { caught = (output, victim) }
        }
        let (output, victim) = try #require(caught)
        // The request finished on the draining worker: all its tokens, none retried elsewhere.
        #expect(output.info?.completionTokens == 200)
        #expect(frontEnd.retriedRequests == 0)
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.isActive && $0.kvUsedTokens == 0 } })
        // The replacement serves.
        let again = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(20))))
        #expect(again.ids == Array(expected.prefix(20)))
        #expect(frontEnd.workerProcessId(slot: victim.slot) != victim.pid)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// With no time to finish (`--drain-timeout 0`) the worker hands its request back: the front
    /// end retries it on the sibling decode worker, which continues with identical tokens.
    @Test func aDrainTimeoutHandsTheRequestBackToASibling() async throws {
        let frontEnd = try await Support.frontEnd(FaultTests.decodePair) { $0.workerArguments += ["--drain-timeout", "0"] }
        let prompt = Support.prompts[0]
        let expected = try await Support.singleProcess([prompt], tokens: 200)[0]
        _ = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(20))))
        var handedBack: (output: Fixtures.Collected, victim: Victim)?
        for _ in 0 ..< 5 where handedBack == nil {
            let restarts = frontEnd.clusterStatus().map { frontEnd.restarts(slot: $0.id) }
            let retries = frontEnd.retriedRequests
            let (output, victim) = try await Self.streamAndTerminate(frontEnd, prompt, tokens: 200)
            #expect(output.ids == expected)
            guard let victim else { continue }
            #expect(await Self.replaced(frontEnd, victim, restartsBefore: restarts[victim.slot]))
            if frontEnd.retriedRequests > retries { handedBack = (output, victim) }
        }
        let (output, _) = try #require(handedBack)
        #expect(output.info?.completionTokens == 200)
        #expect(frontEnd.retriedRequests == 1)
        #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.isActive && $0.kvUsedTokens == 0 } })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
