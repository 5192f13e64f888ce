#if canImport(Glibc)
import Glibc
#endif
import Foundation
import FrontEnd
import ServingAPI
import Testing

/// A slot whose worker keeps dying is relaunched with backoff for as long as it takes, the outage
/// is reported while its stage has no live worker, and the relaunches and prompt tokens are counted.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SupervisionTests {
    /// A decode worker that dies during start-up while `flag` exists, launched through `sh`.
    static func topology(flag: String) -> String {
        """
        heartbeat_interval_ms: 50
        heartbeat_timeout_ms: 1000
        restart_backoff_initial_ms: 10
        restart_backoff_max_ms: 40
        groups:
          - group: text
            workers:
              - {role: prefill, count: 1}
              - {role: decode, count: 1, launcher: [sh, -c, 'test -e "$0" && exit 3; exec "$@"', "\(flag)"]}
        """
    }

    @Test func aWorkerDyingInStartUpIsRelaunchedPastAnyLimitAndReportedMeanwhile() async throws {
        let flag = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-crashloop-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: flag) }
        let frontEnd = try await Support.frontEnd(Self.topology(flag: flag))
        let decode = try #require(frontEnd.clusterStatus().first { $0.role == .decode }?.id)
        let pid = try #require(frontEnd.workerProcessId(slot: decode))
        #expect(frontEnd.unavailableReason == nil)
        #expect(frontEnd.statistics().workerRestarts == ["prefill": 0, "decode": 0])

        // From now on every launch of the decode worker exits before it registers.
        #expect(FileManager.default.createFile(atPath: flag, contents: nil))
        kill(pid, SIGKILL)
        #expect(await Support.eventually(30) { frontEnd.restarts(slot: decode) > 25 })
        let reason = try #require(frontEnd.unavailableReason)
        #expect(reason.contains("group text has no live decode worker"))
        #expect(reason.contains("exited before registering"))
        #expect(frontEnd.clusterStatus().first { $0.role == .prefill }?.isActive == true)
        // A request meanwhile waits for a decode worker rather than failing at once.
        let waiting = Task { try await Support.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(Support.prompts[0]), parameters: Support.greedy(5)))) }

        // The fault clears: the next launch registers and serves.
        try FileManager.default.removeItem(atPath: flag)
        #expect(await Support.eventually(30) { frontEnd.clusterStatus()[decode].isActive })
        #expect(frontEnd.unavailableReason == nil)
        let restarts = frontEnd.restarts(slot: decode)
        #expect(restarts > 25)
        #expect(frontEnd.statistics().workerRestarts == ["prefill": 0, "decode": restarts])
        let out = try await waiting.value
        #expect(out.ids.count == 5)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// With prefill and decode workers, each request's prompt is counted once, where it was prefilled.
    @Test func promptTokensAreCountedOncePerRequest() async throws {
        let frontEnd = try await Support.frontEnd(FaultTests.decodePair)
        let before = frontEnd.statistics().promptTokens
        var expected = 0
        for prompt in Support.prompts {
            let out = try await Support.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Support.greedy(3))))
            expected += try #require(out.info).promptTokens
        }
        #expect(expected == Support.prompts.map(\.count).reduce(0, +))
        // Workers report their counters with their heartbeats.
        #expect(await Support.eventually { frontEnd.statistics().promptTokens - before == expected })
        try await Task.sleep(for: .milliseconds(300))
        #expect(frontEnd.statistics().promptTokens - before == expected)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}
