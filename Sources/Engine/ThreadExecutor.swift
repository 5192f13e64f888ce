import Foundation
import Synchronization
import Tensor

/// Runs jobs in order on threads of its own, optionally at background priority (see
/// ``ComputeThreads/makeCurrentThreadBackground()``). Image preprocessing and vision encoding run on
/// background executors in an engine that also decodes, so that on a CPU shared with the step loop
/// they take only the time decoding leaves and never the compute pool (ElasticMM §4, non-blocking
/// encoding: image work must not stall decode).
///
/// ```swift
/// let encoder = ThreadExecutor(name: "tessera.encoder", background: true)
/// encoder.async { encode(image) }
/// ```
final class ThreadExecutor: Sendable {
    private final class Queue: @unchecked Sendable {
        let condition = NSCondition()
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var stopped = false

        /// The next job, or nil once stopped and empty.
        func next() -> (@Sendable () -> Void)? {
            condition.lock()
            defer { condition.unlock() }
            while head == jobs.count && !stopped { condition.wait() }
            guard head < jobs.count else { return nil }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            return job
        }
    }

    private let queue = Queue()

    /// `threads` threads take jobs in arrival order (one thread: strictly one job at a time).
    init(name: String, threads: Int = 1, background: Bool) {
        for index in 0..<max(1, threads) {
            let thread = Thread { [queue] in
                if background { ComputeThreads.makeCurrentThreadBackground() }
                while let job = queue.next() { job() }
            }
            thread.name = threads > 1 ? "\(name)-\(index)" : name
            thread.start()
        }
    }

    /// Stops the threads once the queued jobs are done.
    deinit {
        queue.condition.lock()
        queue.stopped = true
        queue.condition.broadcast()
        queue.condition.unlock()
    }

    func async(_ job: @escaping @Sendable () -> Void) {
        queue.condition.lock()
        queue.jobs.append(job)
        queue.condition.signal()
        queue.condition.unlock()
    }

    /// Runs `job` on the executor after the jobs queued before it and waits for its result.
    func sync<T: Sendable>(_ job: @escaping @Sendable () throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, any Error>>(.failure(CancellationError()))
        async {
            result.withLock { $0 = Result { try job() } }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0 }.get()
    }
}
