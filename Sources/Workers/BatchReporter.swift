import Engine
import ServingAPI
import Synchronization
import WireProtocol

/// Sends the front end the batching decisions of a worker's engine (``EngineStep/admitted``) in
/// the front end's request ids, so the live scheduler's decisions can be compared with the
/// simulator's. Requests the worker computes (mono and prefill) are tracked; imported ones a
/// decode worker continues are not batching decisions, as in the simulator, and are left out.
///
/// ```swift
/// let (engineID, events) = try reporter.track(wireID) { try engine.submitIdentified(request) }
/// defer { reporter.forget(engineID) }
/// ```
final class BatchReporter: Sendable {
    /// Front-end request ids by engine id.
    private let wireIDs = Mutex<[Int: Int]>([:])
    private let session = Mutex<WorkerSession?>(nil)

    func attach(_ session: WorkerSession) {
        self.session.withLock { $0 = session }
    }

    /// Submits with `submit` and tracks the engine's id for `wireID`. The map is held while the
    /// engine queues the request, so the step that admits it cannot report it before it is known.
    func track<Events>(_ wireID: Int, _ submit: () throws(EngineError) -> (Int, Events)) throws(EngineError) -> (Int, Events) {
        try wireIDs.withLock { ids throws(EngineError) in
            let submitted = try submit()
            ids[submitted.0] = wireID
            return submitted
        }
    }

    func forget(_ engineID: Int) {
        _ = wireIDs.withLock { $0.removeValue(forKey: engineID) }
    }

    /// Loop thread: reports a step that admitted tracked requests.
    func report(_ step: EngineStep) {
        guard !step.admitted.isEmpty else { return }
        let (admitted, waiting, running) = wireIDs.withLock { ids in
            (step.admitted.compactMap { ids[$0] }, step.waiting.compactMap { ids[$0] }, step.running.compactMap { ids[$0] }.sorted())
        }
        guard !admitted.isEmpty else { return }
        session.withLock { $0 }?.send(.admitted(requests: admitted, waiting: waiting, running: running))
    }
}
