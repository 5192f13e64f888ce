import Cluster

/// Starts and stops worker instances for the front end (ModServe's per-stage autoscaling acts
/// through it): ``LocalProcessProvider`` runs child processes, ``KubernetesInstanceProvider`` maps
/// each (group, role) pool to a Deployment and `start`/`stop` to its `/scale`, without touching the policies.
public protocol InstanceProvider: Sendable {
    /// Launches a worker; it registers with the front end over the control endpoint on its own.
    func start(_ instance: InstanceSpec) throws(FrontEndError) -> InstanceHandle
    /// Stops a worker: politely (it drains and exits) or at once (`force`, SIGKILL).
    func stop(_ handle: InstanceHandle, force: Bool)
    /// Whether the instance is still running, as far as the provider can tell.
    func isAlive(_ handle: InstanceHandle) -> Bool
    /// Whether someone else is stopping the instance while its worker may still serve (a pod
    /// deleted: scaled down by an external scaler, evicted, its node lost): the front end drains
    /// it and lets it go. A local process that died is not leaving; it is dead (``isAlive``).
    func isLeaving(_ handle: InstanceHandle) -> Bool
    /// The instance's worker registered, from `pod` when it runs in one (providers that learn their
    /// instances' identity only at registration, like a scaled pool, bind it here).
    func registered(_ handle: InstanceHandle, pod: String?)
    /// Returns once the stops asked for so far have taken effect where the provider applies them
    /// later (a cluster's API), so the front end can exit.
    func finishStopping() async
    /// Whether something else (KEDA, an HPA) decides how many workers run: the front end then
    /// neither replaces lost workers nor carries out its planners' launches and retirements, and
    /// takes every worker that registers (``adopt(pod:role:group:)``).
    var scaledExternally: Bool { get }
    /// A worker registered that no `start` asked for (a pod an external scaler added): its handle,
    /// or nil to turn it away.
    func adopt(pod: String?, role: InstanceRole, group: ModalityGroup) -> InstanceHandle?
    /// The name of a (group, role) pool in metrics (a Kubernetes provider's Deployment name).
    func poolName(group: ModalityGroup, role: InstanceRole) -> String
    /// The instance's worker now serves `role` (an ElasticMM/EPD role switch, in place).
    func roleChanged(_ handle: InstanceHandle, to role: InstanceRole)
}

extension InstanceProvider {
    public func registered(_ handle: InstanceHandle, pod: String?) {}
    public func isLeaving(_ handle: InstanceHandle) -> Bool { false }
    public func finishStopping() async {}
    public var scaledExternally: Bool { false }
    public func adopt(pod: String?, role: InstanceRole, group: ModalityGroup) -> InstanceHandle? { nil }
    public func poolName(group: ModalityGroup, role: InstanceRole) -> String { "\(group.rawValue)-\(role.rawValue)" }
    public func roleChanged(_ handle: InstanceHandle, to role: InstanceRole) {}
}

/// What to start: a worker for a slot, with its role and group.
public struct InstanceSpec: Sendable, Hashable {
    public var slot: Int
    public var role: InstanceRole
    public var group: ModalityGroup
    /// The complete `tessera worker` argument list.
    public var arguments: [String]
    /// Command prefix placing the process (e.g. `ip netns exec host2`), empty for none.
    public var launcher: [String]
    /// For a later stage of a pipelined worker (`tessera pipeline-stage`), its place in the
    /// pipeline (1, 2…); nil for the worker itself.
    public var stage: Int?

    public init(slot: Int, role: InstanceRole, group: ModalityGroup, arguments: [String], launcher: [String] = [], stage: Int? = nil) {
        self.slot = slot
        self.role = role
        self.group = group
        self.arguments = arguments
        self.launcher = launcher
        self.stage = stage
    }
}

/// A started instance, as its provider identifies it.
public struct InstanceHandle: Sendable, Hashable {
    public var id: String
    /// The process id, for local processes.
    public var processId: Int32?

    public init(id: String, processId: Int32?) {
        self.id = id
        self.processId = processId
    }
}
