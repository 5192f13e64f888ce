import Cluster
import WireProtocol

/// The front end's record of one worker position: what it runs, whether it serves, and what the
/// front end has sent it. Slots keep their index for the life of the front end, so they are the
/// instance ids the Cluster policies see.
struct WorkerSlot {
    enum Phase: Equatable {
        /// Launched, not yet registered.
        case starting
        case active
        /// Finishing in-flight work before serving `role`.
        case switching(to: InstanceRole)
        /// Finishing in-flight work before stopping for good.
        case retiring
        /// Its process is stopping (SIGTERM: a pod scaled down, rolled or evicted): finishing
        /// in-flight work; a replacement starts once it has gone.
        case leaving
        case stopped
    }

    let id: Int
    var role: InstanceRole
    var group: ModalityGroup
    var spec: InstanceSpec
    var phase = Phase.starting
    var handle: InstanceHandle?
    var connection: Connection?
    var hello: WorkerHello?
    var load: WorkerLoad?
    var lastHeartbeat = ContinuousClock.now
    var restarts = 0
    /// Lifetimes in a row that ended before the worker served for the backoff's `stableAfter`.
    var failures = 0
    /// When the worker registered; nil while starting.
    var activeSince: ContinuousClock.Instant?
    /// When the dead worker's relaunch is due; nil when none is waiting.
    var relaunchAt: ContinuousClock.Instant?
    /// Why the last worker in this slot ended, for `/health` while none serves.
    var lastFailure: String?
    /// Requests whose current step runs here, with the prompt tokens each brings.
    var assigned: [Int: Int] = [:]
    /// Decode (or mono) requests among `assigned`.
    var decoding: Set<Int> = []
    /// A pipelined worker's split and the processes of its later stages, launched with it.
    var pipeline: LayerPlacement?
    var stages: [InstanceSpec] = []
    var stageHandles: [InstanceHandle] = []

    var isActive: Bool { phase == .active && connection != nil }
}
