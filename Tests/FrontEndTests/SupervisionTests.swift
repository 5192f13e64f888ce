#if canImport(Glibc)
import Glibc
#endif
import Cluster
import Foundation
import FrontEnd
import ServingAPI
import Synchronization
import TestFixtures
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
        let decode = try frontEnd.slot(of: .decode)
        let pid = try #require(frontEnd.workerProcessId(slot: decode))
        #expect(frontEnd.unavailableReason == nil)
        #expect(frontEnd.statistics().workerRestarts == ["prefill": 0, "decode": 0])

        // From now on every launch of the decode worker exits before it registers.
        #expect(FileManager.default.createFile(atPath: flag, contents: nil))
        kill(pid, SIGKILL)
        #expect(await Fixtures.eventually(30) { frontEnd.restarts(slot: decode) > 25 })
        let reason = try #require(frontEnd.unavailableReason)
        #expect(reason.contains("group text has no live decode worker"))
        #expect(reason.contains("exited before registering"))
        #expect(frontEnd.clusterStatus().first { $0.role == .prefill }?.isActive == true)
        // A request meanwhile waits for a decode worker rather than failing at once.
        let waiting = Task { try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(Support.prompts[0]), parameters: Fixtures.greedy(5)))) }

        // The fault clears: the next launch registers and serves.
        try FileManager.default.removeItem(atPath: flag)
        #expect(await Fixtures.eventually(30) { frontEnd.clusterStatus()[decode].isActive })
        #expect(frontEnd.unavailableReason == nil)
        let restarts = frontEnd.restarts(slot: decode)
        #expect(restarts > 25)
        #expect(frontEnd.statistics().workerRestarts == ["prefill": 0, "decode": restarts])
        let out = try await waiting.value
        #expect(out.ids.count == 5)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// Externally scaled (KEDA or an HPA owns the pool sizes), a lost worker is not replaced by the
    /// front end: when every pod of a pool is gone its stage is reported until the scaler adds one.
    @Test func anExternallyScaledPoolWithNoPodLeftIsReportedUntilOneRegisters() async throws {
        let (frontEnd, provider) = try await Support.frontEnd("""
            transfer: tcp
            heartbeat_interval_ms: 50
            groups:
              - group: text
                workers:
                  - {role: prefill, count: 1}
                  - {role: decode, count: 2}
            """, wrappedBy: ExternallyScaledProvider.init)
        let decode = frontEnd.clusterStatus().filter { $0.role == .decode }.map(\.id)
        #expect(decode.count == 2 && frontEnd.unavailableReason == nil)

        // One pod of two vanishing leaves the stage served.
        kill(try #require(frontEnd.workerProcessId(slot: decode[0])), SIGKILL)
        #expect(await Fixtures.eventually { !frontEnd.clusterStatus()[decode[0]].isActive })
        #expect(frontEnd.unavailableReason == nil)
        // The last one vanishing takes the stage down, and nothing relaunches it.
        kill(try #require(frontEnd.workerProcessId(slot: decode[1])), SIGKILL)
        #expect(await Fixtures.eventually { !frontEnd.clusterStatus()[decode[1]].isActive })
        try await Task.sleep(for: .milliseconds(300))
        let reason = try #require(frontEnd.unavailableReason)
        #expect(reason.contains("group text has no live decode worker"))
        #expect(reason.contains("no pod of pool text-decode is registered"))
        #expect(!reason.contains("prefill"))
        #expect(frontEnd.statistics().workerRestarts["decode"] == 0)

        // The scaler adds a pod: it registers without a slot, is adopted, and the stage serves again.
        var spec = try #require(provider.started.withLock { $0[decode[0]] })
        let slotArgument = try #require(spec.arguments.firstIndex(of: "--slot"))
        spec.arguments.removeSubrange(slotArgument...(slotArgument + 1))
        let pod = try provider.local.start(spec)
        provider.pod.withLock { $0 = pod }
        #expect(await Fixtures.eventually(30) { frontEnd.unavailableReason == nil })
        #expect(frontEnd.clusterStatus().filter { $0.role == .decode && $0.isActive }.count == 1)
        let out = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(Support.prompts[0]), parameters: Fixtures.greedy(3))))
        #expect(out.ids.count == 3)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        provider.local.stop(pod, force: true)
    }

    /// With prefill and decode workers, each request's prompt is counted once, where it was prefilled.
    @Test func promptTokensAreCountedOncePerRequest() async throws {
        let frontEnd = try await Support.frontEnd(FaultTests.decodePair)
        let before = frontEnd.statistics().promptTokens
        var expected = 0
        for prompt in Support.prompts {
            let out = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(3))))
            expected += try #require(out.info).promptTokens
        }
        #expect(expected == Support.prompts.map(\.count).reduce(0, +))
        // Workers report their counters with their heartbeats.
        #expect(await Fixtures.eventually { frontEnd.statistics().promptTokens - before == expected })
        try await Task.sleep(for: .milliseconds(300))
        #expect(frontEnd.statistics().promptTokens - before == expected)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }
}

/// Local worker processes standing in for the pods of pools an external scaler sizes: the front end
/// starts the first ones, and adopts `pod` when a worker registers without a slot.
final class ExternallyScaledProvider: InstanceProvider, @unchecked Sendable {
    let local: LocalProcessProvider
    /// What the front end started, by slot.
    let started = Mutex<[Int: InstanceSpec]>([:])
    /// The instance the next unbound worker to register runs in.
    let pod = Mutex<InstanceHandle?>(nil)
    init(_ local: LocalProcessProvider) { self.local = local }
    var scaledExternally: Bool { true }
    func start(_ instance: InstanceSpec) throws(FrontEndError) -> InstanceHandle {
        started.withLock { $0[instance.slot] = instance }
        return try local.start(instance)
    }
    func stop(_ handle: InstanceHandle, force: Bool) { local.stop(handle, force: force) }
    func isAlive(_ handle: InstanceHandle) -> Bool { local.isAlive(handle) }
    func adopt(pod name: String?, role: InstanceRole, group: ModalityGroup) -> InstanceHandle? { pod.withLock { $0 } }
}
