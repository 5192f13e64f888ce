import Engine
import ServingAPI
import Synchronization
import WireProtocol

/// KV that prefill workers pushed to this decode worker (push hand-off), held until the request's
/// generate job takes it. Either may come first: a job that arrives early waits for its push.
final class KVInbox: Sendable {
    private struct State {
        var arrived: [KVSource: (buffer: KVBuffer, since: ContinuousClock.Instant)] = [:]
        var waiting: [KVSource: CheckedContinuation<KVBuffer?, Never>] = [:]
    }

    private let state = Mutex(State())

    /// Hands a pushed KV to the job waiting for it, or keeps it for the job to come.
    func put(_ buffer: KVBuffer, from source: KVSource) {
        let waiter = state.withLock { s -> CheckedContinuation<KVBuffer?, Never>? in
            if let waiter = s.waiting.removeValue(forKey: source) { return waiter }
            s.arrived[source] = (buffer, .now)
            return nil
        }
        waiter?.resume(returning: buffer)
    }

    /// The KV pushed from `source`, waiting up to `timeout` for it to arrive; nil when it does not
    /// arrive in time or the task is cancelled. Suspends without holding a thread.
    func take(_ source: KVSource, timeout: Duration) async -> KVBuffer? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KVBuffer?, Never>) in
                let ready = state.withLock { s -> KVBuffer?? in
                    if let entry = s.arrived.removeValue(forKey: source) { return .some(entry.buffer) }
                    // Checked under the lock, so a cancellation either shows here or finds the waiter.
                    if Task.isCancelled { return .some(nil) }
                    s.waiting[source] = continuation
                    return nil
                }
                if let ready { return continuation.resume(returning: ready) }
                Task { [self] in
                    try? await Task.sleep(for: timeout)
                    giveUp(source)
                }
            }
        } onCancel: {
            giveUp(source)
        }
    }

    /// Drops pushed KV no job took within `timeout` (its request failed or was aborted first).
    func expire(olderThan timeout: Duration) {
        let now = ContinuousClock.now
        state.withLock { s in s.arrived = s.arrived.filter { now - $0.value.since <= timeout } }
    }

    private func giveUp(_ source: KVSource) {
        state.withLock { $0.waiting.removeValue(forKey: source) }?.resume(returning: nil)
    }
}
