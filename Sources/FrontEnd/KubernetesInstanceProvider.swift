import Cluster
import Foundation
import KubernetesClient
// Cluster has a Deployment of its own (a static fleet shape).
import struct KubernetesClient.Deployment
import Synchronization
import WireProtocol

/// Workers as pods of one Deployment per (group, role) pool, e.g. `tessera-text-decode`, scaled
/// through its `/scale` subresource (as llm-d, Dynamo's planner and SGLang's router run on
/// Kubernetes): placement and restarts belong to Kubernetes, what runs where to the front end.
///
/// - `start` adds a replica and leaves a pending slot; the pod's worker registers without a slot
///   (its pod name and address from the downward API) and the front end binds it to the oldest
///   pending slot of its role and group (``registered(_:pod:)``).
/// - `stop` deletes the bound pod (SIGTERM: the worker drains; `force`: grace 0) and removes the
///   replica, so the ReplicaSet does not replace it; a pending instance only removes the replica
///   (the ReplicaSet drops a not-yet-ready pod first).
/// - Liveness: a bound instance lives while its pod is in the Pod watch and not terminating; the
///   front end's heartbeats catch a hung worker. A pending instance no pod registered for within
///   the startup timeout is given up. A bound worker whose pod someone else deletes (an eviction,
///   a lost node, a rollout) is leaving (``isLeaving(_:)``): the front end drains it, lets it go and
///   starts a replacement, which the ReplicaSet's next pod fills.
///
/// With `autoscaling: external` the provider never writes `/scale`: pods come and go as KEDA or an
/// HPA sets the count, and each one that registers is adopted (``adopt(pod:role:group:)``).
///
/// The live role is the pod label `tessera.ai/role`, outside the selector (`tessera.ai/pool` is the
/// role the pool was created for), so it can change without a pod restart.
///
/// ```swift
/// let provider = try KubernetesInstanceProvider(settings: settings, client: KubernetesClient(try KubernetesConfig.load()))
/// let frontEnd = try ClusterFrontEnd(topology: topology, options: options, provider: provider)
/// ```
public final class KubernetesInstanceProvider: InstanceProvider {
    public let settings: KubernetesSettings
    public let namespace: String
    let client: KubernetesClient

    static let selectorLabels = ["app.kubernetes.io/name": "tessera", "app.kubernetes.io/component": "worker"]

    private struct Instance {
        var pool: String
        var pod: String?
        var since: ContinuousClock.Instant
    }

    private enum Operation: CustomStringConvertible {
        /// Create the pool's Deployment if need be, then write its desired replicas.
        case scale(Deployment)
        case delete(pod: String, gracePeriodSeconds: Int?)
        /// Set the pod's live-role label (outside the selector: the pod stays in its Deployment).
        case relabel(pod: String, role: InstanceRole)

        var description: String {
            switch self {
            case let .relabel(pod, role): "labelling pod \(pod) tessera.ai/role=\(role.rawValue)"
            case let .scale(deployment): "scaling \(deployment.metadata.name ?? "")"
            case let .delete(pod, grace): "deleting pod \(pod)" + (grace.map { " (grace \($0) s)" } ?? "")
            }
        }
    }

    private struct State {
        var instances: [String: Instance] = [:]
        /// Desired replicas per pool: the instances started and not stopped.
        var replicas: [String: Int] = [:]
        var applied: Set<String> = []
        var pools: [String: Deployment] = [:]
        /// The worker pods as the Pod watch sees them.
        var pods: [String: Pod] = [:]
        var pendingOperations = 0
    }

    private let state = Mutex(State())
    private let counter = Atomic<Int>(0)
    private let operations: AsyncStream<Operation>.Continuation
    private let tasks = Mutex<[Task<Void, Never>]>([])

    public init(settings: KubernetesSettings, client: KubernetesClient) {
        self.settings = settings
        self.client = client
        namespace = settings.namespace ?? client.config.namespace
        let (stream, continuation) = AsyncStream<Operation>.makeStream()
        operations = continuation
        let informer = PodInformer(client: client, selector: LabelSelector(Self.selectorLabels), namespace: namespace)
        let watch = Task { [weak self] in
            for await update in informer.updates() {
                guard let self else { return }
                state.withLock { $0.pods = update.pods }
            }
        }
        // One writer, in order: a later /scale never overtakes an earlier one.
        let writer = Task { [weak self] in
            for await operation in stream {
                guard let self else { return }
                await perform(operation)
                state.withLock { $0.pendingOperations -= 1 }
            }
        }
        tasks.withLock { $0 = [watch, writer] }
    }

    deinit {
        operations.finish()
        tasks.withLock { $0.forEach { $0.cancel() } }
    }

    /// The Deployment name of a (group, role) pool.
    public func poolName(group: ModalityGroup, role: InstanceRole) -> String {
        "\(settings.namePrefix ?? "tessera")-\(group.rawValue)-\(role.rawValue)"
    }

    public func start(_ instance: InstanceSpec) throws(FrontEndError) -> InstanceHandle {
        let pool = poolName(group: instance.group, role: instance.role)
        let deployment = try deployment(for: instance, name: pool)
        let id = "\(pool)#\(counter.add(1, ordering: .relaxed).newValue)"
        state.withLock { s in
            s.instances[id] = Instance(pool: pool, pod: nil, since: .now)
            s.replicas[pool, default: 0] += 1
            s.pools[pool] = deployment
        }
        enqueue(.scale(deployment))
        return InstanceHandle(id: id, processId: nil)
    }

    public func stop(_ handle: InstanceHandle, force: Bool) {
        guard let (instance, deployment, emptied) = state.withLock({ s -> (Instance, Deployment?, Bool)? in
            guard let instance = s.instances.removeValue(forKey: handle.id) else { return nil }
            s.replicas[instance.pool, default: 1] -= 1
            return (instance, s.pools[instance.pool], s.replicas[instance.pool] == 0)
        }) else { return }
        let delete = instance.pod.map { Operation.delete(pod: $0, gracePeriodSeconds: force ? 0 : nil) }
        // Deleting first: the ReplicaSet may start a replacement, which the lower count then removes
        // (a pod that is not ready yet goes first). A pool going to 0 is scaled first: no replacement.
        if !emptied, let delete { enqueue(delete) }
        if let deployment { enqueue(.scale(deployment)) }
        if emptied, let delete { enqueue(delete) }
    }

    public var scaledExternally: Bool { settings.autoscaling == .external }

    /// In the `external` mode, a pod the external scaler added: an instance bound to it from the start.
    public func adopt(pod: String?, role: InstanceRole, group: ModalityGroup) -> InstanceHandle? {
        guard scaledExternally else { return nil }
        let pool = poolName(group: group, role: role)
        let id = "\(pool)#\(counter.add(1, ordering: .relaxed).newValue)"
        state.withLock { $0.instances[id] = Instance(pool: pool, pod: pod, since: .now) }
        return InstanceHandle(id: id, processId: nil)
    }

    /// A role switch happens in place: the pod's `tessera.ai/role` label follows it, the pod stays.
    public func roleChanged(_ handle: InstanceHandle, to role: InstanceRole) {
        guard let pod = state.withLock({ $0.instances[handle.id]?.pod }) else { return }
        enqueue(.relabel(pod: pod, role: role))
    }

    public func isAlive(_ handle: InstanceHandle) -> Bool {
        let timeout = Duration.seconds(settings.startupTimeoutSeconds ?? 600)
        let (alive, expired) = state.withLock { s -> (Bool, Bool) in
            guard let instance = s.instances[handle.id] else { return (false, false) }
            guard let pod = instance.pod else {
                let expired = ContinuousClock.now - instance.since > timeout
                return (!expired, expired)
            }
            return (!Self.leaving(instance, pod: pod, pods: s.pods), false)
        }
        if expired { stop(handle, force: true) }
        return alive
    }

    /// A bound instance whose pod is terminating or gone from the watch: the worker may still
    /// serve (a pod's grace period, or a node that stopped answering keeps its containers).
    public func isLeaving(_ handle: InstanceHandle) -> Bool {
        state.withLock { s in
            guard let instance = s.instances[handle.id], let pod = instance.pod else { return false }
            return Self.leaving(instance, pod: pod, pods: s.pods)
        }
    }

    private static func leaving(_ instance: Instance, pod: String, pods: [String: Pod]) -> Bool {
        // Registered before the watch reported its pod: give the watch a moment.
        guard let seen = pods[pod] else { return ContinuousClock.now - instance.since >= .seconds(10) }
        return seen.isTerminating
    }

    public func registered(_ handle: InstanceHandle, pod: String?) {
        state.withLock { s in
            s.instances[handle.id]?.pod = pod
            s.instances[handle.id]?.since = .now
        }
    }

    /// Waits (10 s at most) until every /scale write and deletion asked for so far is done or failed.
    public func finishStopping() async {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, state.withLock({ $0.pendingOperations > 0 }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The pod a started instance's worker registered from, nil while pending.
    public func pod(of handle: InstanceHandle) -> String? {
        state.withLock { $0.instances[handle.id]?.pod }
    }

    private func enqueue(_ operation: Operation) {
        state.withLock { $0.pendingOperations += 1 }
        operations.yield(operation)
    }

    private func perform(_ operation: Operation) async {
        for attempt in 1...5 {
            do {
                switch operation {
                case let .scale(deployment):
                    let pool = deployment.metadata.name ?? ""
                    if !state.withLock({ $0.applied.contains(pool) }) {
                        // A pool deployed with its manifest (deploy/kubernetes) keeps its pod
                        // template; only the worker's arguments come from here.
                        try await client.apply(deployment, adopting: "worker")
                        state.withLock { _ = $0.applied.insert(pool) }
                    }
                    // In the external mode the pool's count is KEDA's or the HPA's, never written here.
                    guard !scaledExternally else { return }
                    let replicas = state.withLock { $0.replicas[pool] ?? 0 }
                    _ = try await client.setScale(deployment: pool, replicas: replicas, namespace: namespace)
                case let .relabel(pod, role):
                    do { _ = try await client.patchLabels(pod: pod, ["tessera.ai/role": role.rawValue], namespace: namespace) } catch where error.isNotFound {}
                case let .delete(pod, grace):
                    do { try await client.deletePod(pod, gracePeriodSeconds: grace, namespace: namespace) } catch where error.isNotFound {}
                }
                return
            } catch {
                FileHandle.standardError.write(Data("kubernetes: \(operation) failed (attempt \(attempt) of 5): \(error)\n".utf8))
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The pool's Deployment: selector labels for the pool, the live role as a label outside it,
    /// and the worker's command line with its pod's identity in place of a slot.
    func deployment(for instance: InstanceSpec, name: String) throws(FrontEndError) -> Deployment {
        let selector = Self.selectorLabels.merging(["tessera.ai/group": instance.group.rawValue, "tessera.ai/pool": instance.role.rawValue]) { a, _ in a }
        var labels = selector
        labels["tessera.ai/role"] = instance.role.rawValue
        var container: [String: JSONObject] = [
            "name": "worker", "image": .string(settings.image),
            "imagePullPolicy": .string(settings.imagePullPolicy ?? "IfNotPresent"),
            "args": .array(try Self.podArguments(instance).map { .string($0) }),
            "ports": [["name": "transfer", "containerPort": .number(Double(Self.transferPort))]],
            // The transfer listener opens once the model has loaded and the worker has reached the front end.
            "readinessProbe": ["tcpSocket": ["port": "transfer"], "periodSeconds": 2],
            "env": [
                ["name": "TESSERA_POD_NAME", "valueFrom": ["fieldRef": ["fieldPath": "metadata.name"]]],
                ["name": "TESSERA_POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]],
                // From a Secret, not the template: the front end's own value is never written to the API.
                ["name": "TESSERA_WORKER_SECRET", "valueFrom": ["secretKeyRef": [
                    "name": .string(settings.workerSecret ?? "tessera-worker-secret"), "key": "secret"]]],
            ],
        ]
        // Workers spread over nodes where they can (prefill and decode apart: KV crosses nodes by design).
        let workers = JSONObject.object(Self.selectorLabels.mapValues { .string($0) })
        var pod: [String: JSONObject] = [
            "containers": .array([.object(container)]),
            "affinity": ["podAntiAffinity": ["preferredDuringSchedulingIgnoredDuringExecution": [
                ["weight": 100, "podAffinityTerm": ["topologyKey": "kubernetes.io/hostname", "labelSelector": ["matchLabels": workers]]],
            ]]],
        ]
        if let path = settings.modelHostPath {
            container["volumeMounts"] = [["name": "models", "mountPath": .string(path), "readOnly": true]]
            pod["containers"] = .array([.object(container)])
            pod["volumes"] = [["name": "models", "hostPath": ["path": .string(path), "type": "Directory"]]]
        }
        return Deployment(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: selector),
            spec: .init(replicas: 0, selector: LabelSelector(selector),
                        template: .init(metadata: ObjectMeta(labels: labels), spec: .object(pod))))
    }

    /// Where a pod's worker serves KV (and its readiness probe looks): one address per pod, so one port for all.
    public static let transferPort = 7100

    /// `tessera worker …` as a pod runs it: no slot (the front end binds the pod when it registers),
    /// its group, and KV served on the pod's address (`$(TESSERA_POD_IP)`, expanded by the kubelet) at ``transferPort``.
    static func podArguments(_ instance: InstanceSpec) throws(FrontEndError) -> [String] {
        var arguments = instance.arguments
        guard let slot = arguments.firstIndex(of: "--slot"), let transfer = arguments.firstIndex(of: "--transfer"),
              let frontEnd = arguments.firstIndex(of: "--front-end") else {
            throw .launchFailed("worker arguments lack --slot, --transfer or --front-end")
        }
        guard arguments[frontEnd + 1].hasPrefix("tcp:"), !arguments[frontEnd + 1].hasPrefix("tcp:127."),
              !arguments[frontEnd + 1].hasPrefix("tcp:localhost") else {
            throw .launchFailed("pods cannot reach the control endpoint \(arguments[frontEnd + 1]): set the topology's `control` to tcp:ADDRESS:PORT on an address pods reach")
        }
        arguments[transfer + 1] = "tcp:$(TESSERA_POD_IP):\(transferPort)"
        arguments.replaceSubrange(slot...(slot + 1), with: ["--group", instance.group.rawValue])
        if !arguments.contains("--no-shared-memory") { arguments.append("--no-shared-memory") }
        return arguments
    }
}
