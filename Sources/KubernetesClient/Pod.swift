/// A core/v1 Pod, reduced to what a scheduler of workers needs: where it runs, its address, and
/// whether it is ready.
public struct Pod: Codable, Sendable, Hashable {
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: PodStatus?

    public struct Spec: Codable, Sendable, Hashable {
        public var nodeName: String?
    }

    public struct PodStatus: Codable, Sendable, Hashable {
        public var phase: String?
        public var podIP: String?
        public var hostIP: String?
        public var conditions: [Condition]?
        public var containerStatuses: [ContainerStatus]?
    }

    public struct Condition: Codable, Sendable, Hashable {
        public var type: String
        public var status: String
    }

    public struct ContainerStatus: Codable, Sendable, Hashable {
        public var name: String
        public var ready: Bool
        public var restartCount: Int
        public var state: [String: JSONObject]?
    }

    public var name: String { metadata.name ?? "" }
    /// The `Ready` condition is `True`: the kubelet's readiness probe passes.
    public var isReady: Bool { status?.conditions?.contains { $0.type == "Ready" && $0.status == "True" } ?? false }
    /// Ended for good (`Succeeded`/`Failed`) or being deleted.
    public var isTerminating: Bool {
        metadata.deletionTimestamp != nil || status?.phase == "Succeeded" || status?.phase == "Failed"
    }
    /// Container restarts so far, summed over containers.
    public var restartCount: Int { status?.containerStatuses?.reduce(0) { $0 + $1.restartCount } ?? 0 }
}

/// `GET /api/v1/namespaces/NS/pods`.
public struct PodList: Codable, Sendable, Hashable {
    public var metadata: ListMeta
    public var items: [Pod]
}
