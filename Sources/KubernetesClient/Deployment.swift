/// An apps/v1 Deployment: a selector, a replica count and a pod template. The template's pod `spec`
/// is passed through as JSON, as written in the manifest it came from.
public struct Deployment: Codable, Sendable, Hashable {
    public var apiVersion = "apps/v1"
    public var kind = "Deployment"
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: DeploymentStatus?

    public struct Spec: Codable, Sendable, Hashable {
        public var replicas: Int?
        public var selector: LabelSelector
        public var template: PodTemplate

        public init(replicas: Int?, selector: LabelSelector, template: PodTemplate) {
            self.replicas = replicas
            self.selector = selector
            self.template = template
        }
    }

    public struct PodTemplate: Codable, Sendable, Hashable {
        public var metadata: ObjectMeta
        public var spec: JSONObject

        public init(metadata: ObjectMeta, spec: JSONObject) {
            self.metadata = metadata
            self.spec = spec
        }
    }

    public struct DeploymentStatus: Codable, Sendable, Hashable {
        public var replicas: Int?
        public var readyReplicas: Int?
        public var availableReplicas: Int?
    }

    public init(metadata: ObjectMeta, spec: Spec) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// autoscaling/v1 Scale, the `/scale` subresource of a Deployment (what HPA, KEDA and Tessera's
/// planners write).
public struct Scale: Codable, Sendable, Hashable {
    public var apiVersion = "autoscaling/v1"
    public var kind = "Scale"
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: ScaleStatus?

    public struct Spec: Codable, Sendable, Hashable {
        public var replicas: Int?
    }

    public struct ScaleStatus: Codable, Sendable, Hashable {
        public var replicas: Int
        /// The pod selector in query form.
        public var selector: String?
    }

    /// Desired replicas (`spec.replicas`, 0 when unset).
    public var replicas: Int { spec.replicas ?? 0 }
}
