import AsyncHTTPClient
import CoreUtilities
import DequeModule
import Foundation

/// Sends a benchmark's requests on their arrival schedule (or at their own `arrival` times when a
/// trace gives them), at most `maxConcurrency` at a time.
///
/// ```swift
/// let runner = BenchRunner(client: client, schedule: ArrivalSchedule(rate: 2, burstiness: 1, seed: 0))
/// let (outcomes, seconds) = await runner.run(requests) { done in progress.update(done) }
/// ```
public struct BenchRunner: Sendable {
    public var client: BenchClient
    public var schedule: ArrivalSchedule
    public var maxConcurrency: Int?

    public init(client: BenchClient, schedule: ArrivalSchedule, maxConcurrency: Int? = nil) {
        self.client = client
        self.schedule = schedule
        self.maxConcurrency = maxConcurrency
    }

    /// Outcomes in request order and the wall time of the whole run.
    public func run(_ requests: [BenchRequest], progress: @escaping @Sendable (Int) -> Void) async -> ([BenchOutcome], Double) {
        await Self.run(schedule: schedule, maxConcurrency: maxConcurrency, arrivals: requests.map(\.arrival),
                       send: { [client] in await client.send(requests[$0]) }, progress: progress)
    }

    /// Sends request `i` with `send(i)` at its arrival (the schedule's when `nil`), at most
    /// `maxConcurrency` at a time; the outcomes in request order and the wall time of the whole run.
    public static func run<Outcome: Sendable>(
        schedule: ArrivalSchedule, maxConcurrency: Int?, arrivals: [Double?], send: @escaping @Sendable (Int) async -> Outcome,
        progress: @escaping @Sendable (Int) -> Void
    ) async -> ([Outcome], Double) {
        var schedule = schedule
        let limiter = ConcurrencyLimiter(limit: maxConcurrency ?? Int.max)
        let start = ContinuousClock.now
        let outcomes = await withTaskGroup(of: (Int, Outcome).self) { group in
            var sendAt = start
            for (index, arrival) in arrivals.enumerated() {
                if let arrival { sendAt = start.advanced(by: .seconds(arrival)) }
                try? await Task.sleep(until: sendAt, clock: .continuous)
                sendAt = sendAt.advanced(by: .seconds(schedule.nextGap()))
                await limiter.acquire()
                group.addTask {
                    let outcome = await send(index)
                    await limiter.release()
                    return (index, outcome)
                }
            }
            var outcomes = [Outcome?](repeating: nil, count: arrivals.count)
            var done = 0
            for await (index, outcome) in group {
                outcomes[index] = outcome
                done += 1
                progress(done)
            }
            return outcomes.compactMap { $0 }
        }
        return (outcomes, (ContinuousClock.now - start).seconds)
    }
}

/// A counting semaphore for async tasks.
actor ConcurrencyLimiter {
    private let limit: Int
    private var inUse = 0
    private var waiters = Deque<CheckedContinuation<Void, Never>>()

    init(limit: Int) { self.limit = limit }

    func acquire() async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            inUse -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// A one-line progress bar on standard error, redrawn in place.
public final class ProgressBar: @unchecked Sendable {
    private let total: Int
    private let lock = NSLock()
    private let start = ContinuousClock.now

    public init(total: Int) { self.total = total }

    public func update(_ done: Int) {
        lock.lock()
        defer { lock.unlock() }
        let width = 40
        let filled = total == 0 ? width : width * done / total
        let elapsed = (ContinuousClock.now - start).seconds
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ %d/%d [%.1fs]", bar, done, total, elapsed).utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
