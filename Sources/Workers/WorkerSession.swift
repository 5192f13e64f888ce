import Foundation
import Synchronization
import WireProtocol

/// A worker process's session with the front end over its control connection: it registers, reads
/// the front end's messages, sends heartbeats, keeps each request's work as a task an `abort` can
/// cancel, and drains on SIGTERM. Every worker kind (``Worker``, ``ImageWorker``) runs one; each
/// supplies only its registration and what it does with a message.
///
/// Draining (a pod scaled down, rolled or evicted) tells the front end, which sends nothing new and
/// closes the connection once the worker's work finished; what still runs at the timeout is handed
/// back by closing the connection, and the front end retries it on a sibling. A drain asked for
/// before registration reaches the front end right after it.
///
/// ```swift
/// let session = try WorkerSession(frontEnd: configuration.frontEnd)
/// try await session.run(registering: hello, readerName: "tessera-worker-control", heartbeatEvery: .milliseconds(200),
///                       heartbeat: { load() }) { message, payload in
///     if case let .generate(id, job) = message {
///         session.start(id, failed: { .failed(request: id, .internalFailure("\($0)")) }) { try await generate(id, job) }
///     }
/// }
/// // The connection closed and every request task is cancelled: stop the engine.
/// ```
public final class WorkerSession: Sendable {
    private let control: Connection

    private struct State {
        var tasks: [Int: Task<Void, Never>] = [:]
        var registered = false
        var draining = false
        var closed = false
    }

    private let state = Mutex(State())

    /// Connects to the front end; a worker without it has nothing to serve.
    public init(frontEnd: Endpoint) throws {
        control = try Connection.connect(to: frontEnd)
    }

    /// Registers with `hello`, hands every message but `abort` to `handle` and sends `heartbeat()`
    /// every `interval` until the front end closes the connection; then cancels the request tasks
    /// still running and returns.
    public func run(registering hello: WorkerHello, readerName: String, heartbeatEvery interval: Duration,
                    heartbeat: @escaping @Sendable () -> WorkerLoad,
                    handle: @escaping @Sendable (WireMessage, Data) -> Void) async throws {
        do { try control.send(.register(hello)) } catch { throw WorkerError.registrationFailed("\(error)") }
        // Told to drain before it had registered: the front end hears it now.
        if state.withLock({ s in s.registered = true; return s.draining }) { send(.draining) }

        let (closed, closedContinuation) = AsyncStream<Void>.makeStream()
        control.startReading(name: readerName, onMessage: { [self] message, payload in
            if case let .abort(id) = message { return abort(id) }
            handle(message, payload)
        }, onClose: { _ in closedContinuation.finish() })
        let heartbeats = Task { [self] in
            while !Task.isCancelled {
                send(.heartbeat(heartbeat()))
                try? await Task.sleep(for: interval)
            }
        }
        for await _ in closed {}
        heartbeats.cancel()
        let tasks = state.withLock { s in
            s.closed = true
            return Array(s.tasks.values)
        }
        tasks.forEach { $0.cancel() }
    }

    /// Runs one request's work as a task the front end can cancel with `abort`. A thrown error other
    /// than cancellation goes back as `failed(error)`; `finished` runs after the work either way.
    public func start(_ id: Int, failed: @escaping @Sendable (any Error) -> WireMessage, finished: @escaping @Sendable () -> Void = {},
                      _ work: @escaping @Sendable () async throws -> Void) {
        let task = Task { [self] in
            do {
                try await work()
            } catch is CancellationError {
            } catch {
                send(failed(error))
            }
            state.withLock { _ = $0.tasks.removeValue(forKey: id) }
            finished()
        }
        state.withLock { s in
            guard !s.closed else { return task.cancel() }
            s.tasks[id] = task
        }
    }

    /// Whether no request's work is running.
    public var isIdle: Bool { state.withLock { $0.tasks.isEmpty } }

    /// Leaves within `timeout` (see the type's documentation); `run` returns once the connection
    /// has closed. Idempotent: a second signal does not restart the clock.
    public func drain(timeout: Duration) {
        let (first, registered) = state.withLock { s in
            defer { s.draining = true }
            return (!s.draining && !s.closed, s.registered)
        }
        guard first else { return }
        if registered { send(.draining) }
        control.close(after: timeout)
    }

    /// Ends the session now (the worker can no longer serve); the front end replays its requests.
    public func close() { control.close() }

    public func send(_ message: WireMessage, payload: Data = Data()) {
        try? control.send(message, payload: payload)
    }

    private func abort(_ id: Int) {
        state.withLock { $0.tasks[id] }?.cancel()
    }
}
