/// How long a worker slot waits before its next launch after the worker died, as Kubernetes'
/// CrashLoopBackOff does: the first failure is relaunched at once, each further consecutive one
/// waits twice as long as the one before, from `initial` up to `maximum`, and a worker that served
/// for `stableAfter` starts the count again. There is no last attempt: a slot is relaunched for as
/// long as the front end runs, so a fault that clears (a full disk, a lost mount) heals on its own.
///
/// ```swift
/// let backoff = RestartBackoff(initial: .milliseconds(500), maximum: .seconds(30))
/// backoff.delay(afterFailures: 1)  // .zero
/// backoff.delay(afterFailures: 3)  // 1 s
/// backoff.delay(afterFailures: 40) // 30 s
/// ```
public struct RestartBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    /// A worker registered for at least this long before it died failed for a new reason.
    public var stableAfter: Duration

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30), stableAfter: Duration = .seconds(60)) {
        self.initial = initial
        self.maximum = maximum
        self.stableAfter = stableAfter
    }

    /// The wait before the launch that follows `failures` consecutive failed lifetimes (the one
    /// just ended included): none after the first, then `initial`, doubling, capped at `maximum`.
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 1 else { return .zero }
        // Doubling past the cap stops early, so no count of failures can overflow.
        var delay = initial
        for _ in 2 ..< failures {
            guard maximum > delay, delay > .zero else { break }
            delay *= 2
        }
        return min(delay, maximum)
    }

    /// The consecutive-failure count after a worker that was registered since `activeSince`
    /// (nil: it never registered) died at `now`, given the count before.
    public func failures(after previous: Int, activeSince: ContinuousClock.Instant?, now: ContinuousClock.Instant) -> Int {
        if let activeSince, now - activeSince >= stableAfter { return 1 }
        return previous == .max ? previous : previous + 1
    }
}
