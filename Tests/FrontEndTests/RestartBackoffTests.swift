import FrontEnd
import Testing

/// The relaunch delays of a slot whose worker keeps dying: immediate, then doubling up to the cap, forever.
@Suite struct RestartBackoffTests {
    let backoff = RestartBackoff(initial: .milliseconds(500), maximum: .seconds(30), stableAfter: .seconds(60))

    @Test func theFirstFailureIsRelaunchedAtOnceAndLaterOnesDoubleUpToTheCap() {
        #expect(backoff.delay(afterFailures: 0) == .zero)
        #expect(backoff.delay(afterFailures: 1) == .zero)
        #expect(backoff.delay(afterFailures: 2) == .milliseconds(500))
        #expect(backoff.delay(afterFailures: 3) == .seconds(1))
        #expect(backoff.delay(afterFailures: 4) == .seconds(2))
        #expect(backoff.delay(afterFailures: 8) == .seconds(30))
        #expect(backoff.delay(afterFailures: 9) == .seconds(30))
    }

    /// No count of failures ends the relaunching or overflows the arithmetic: the delay stays at the cap.
    @Test func thereIsNoLastAttempt() {
        for failures in [21, 1000, Int.max - 1, Int.max] {
            #expect(backoff.delay(afterFailures: failures) == .seconds(30))
        }
        #expect(backoff.failures(after: .max, activeSince: nil, now: .now) == .max)
    }

    @Test func aWorkerThatServedLongEnoughStartsTheCountAgain() {
        let now = ContinuousClock.now
        // Never registered, or died soon after registering: one more failure in a row.
        #expect(backoff.failures(after: 5, activeSince: nil, now: now) == 6)
        #expect(backoff.failures(after: 5, activeSince: now - .seconds(59), now: now) == 6)
        // Served a minute: its death is a first failure, relaunched at once.
        #expect(backoff.failures(after: 5, activeSince: now - .seconds(60), now: now) == 1)
        #expect(backoff.delay(afterFailures: backoff.failures(after: 5, activeSince: now - .seconds(61), now: now)) == .zero)
    }

    @Test func aCapBelowTheFirstDelayIsTheDelay() {
        let tight = RestartBackoff(initial: .seconds(2), maximum: .seconds(2))
        #expect(tight.delay(afterFailures: 2) == .seconds(2))
        #expect(tight.delay(afterFailures: 50) == .seconds(2))
    }

    @Test func topologiesTakeTheBackoffAndRefuseANonsensicalOne() throws {
        var topology = Topology(groups: [.init(group: .text, workers: [.init(role: .mono, count: 1)])],
                                restartBackoffInitialMs: 10, restartBackoffMaxMs: 80)
        #expect(topology.restartBackoff.delay(afterFailures: 5) == .milliseconds(80))
        topology.restartBackoffInitialMs = 0
        #expect(throws: FrontEndError.self) { try topology.validate() }
        topology.restartBackoffInitialMs = 100
        #expect(throws: FrontEndError.self) { try topology.validate() }
        topology.restartBackoffMaxMs = 100
        try topology.validate()
    }
}
