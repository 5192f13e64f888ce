import CoreUtilities
import Foundation
import Yams

/// Where a topology's workers run when its file says `provider: kubernetes`: one Deployment per
/// (group, role) pool in `namespace`, running `image`.
///
/// ```yaml
/// provider: kubernetes
/// kubernetes: {namespace: tessera, image: "tessera:local", model_host_path: /models/llama, worker_secret: tessera-worker-secret,
///              leader_lease: tessera-front-end}
/// transfer: tcp
/// control: "tcp:10.0.0.5:7000"     # the front end's address as pods reach it
/// groups: …
/// ```
public struct KubernetesSettings: Sendable, Hashable, Codable {
    /// Default: the namespace of the kubeconfig context, or the service account's.
    public var namespace: String?
    public var image: String
    public var imagePullPolicy: String?
    /// A host folder mounted read-only at the same path in every worker pod (the model directory
    /// the front end passes to workers must exist there); none: the image holds it.
    public var modelHostPath: String?
    /// The Kubernetes Secret (key `secret`) holding the workers' ``PeerSecret``; the front end must
    /// run with the same value in `TESSERA_WORKER_SECRET`. Default `tessera-worker-secret`.
    public var workerSecret: String?
    /// Deployment names are `PREFIX-GROUP-ROLE`.
    public var namePrefix: String?
    /// A started instance no pod registered for within this many seconds is given up and started again.
    public var startupTimeoutSeconds: Double?
    /// With several front-end replicas: the coordination/v1 Lease whose holder alone starts the
    /// workers, runs the planners and writes `/scale`; none: this front end acts alone.
    public var leaderLease: String?
    /// How long a lease unrenewed stays its holder's (default 15 s): a new leader takes over within it.
    public var leaseDurationSeconds: Double?
    /// Who sets the pools' replica counts (default `tessera`).
    public var autoscaling: Autoscaling?

    /// `tessera`: the front end is the scale controller; its planners (the StageAutoscaler, the
    /// role switcher, elastic partitioning, the group balancer) start and stop workers, which it
    /// writes to the pools' `/scale`. `external`: KEDA or an HPA owns `/scale`; the front end never
    /// writes it, takes whatever pods register, and exports per-pool metrics with the planners'
    /// `tessera:desired_replicas{pool}` for the external scaler to follow.
    public enum Autoscaling: String, Sendable, Hashable, Codable {
        case tessera, external
    }

    public init(namespace: String? = nil, image: String, imagePullPolicy: String? = nil, modelHostPath: String? = nil,
                namePrefix: String? = nil, startupTimeoutSeconds: Double? = nil) {
        self.namespace = namespace
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.modelHostPath = modelHostPath
        self.namePrefix = namePrefix
        self.startupTimeoutSeconds = startupTimeoutSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case namespace, image
        case imagePullPolicy = "image_pull_policy"
        case modelHostPath = "model_host_path"
        case workerSecret = "worker_secret"
        case namePrefix = "name_prefix"
        case startupTimeoutSeconds = "startup_timeout_seconds"
        case leaderLease = "leader_lease"
        case leaseDurationSeconds = "lease_duration_seconds"
        case autoscaling
    }

    /// Refuses keys it does not know (a misspelt `autoscaling` must not silently mean `tessera`).
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.stringValue)))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        namespace = try c.decodeIfPresent(String.self, forKey: .namespace)
        image = try c.decode(String.self, forKey: .image)
        imagePullPolicy = try c.decodeIfPresent(String.self, forKey: .imagePullPolicy)
        modelHostPath = try c.decodeIfPresent(String.self, forKey: .modelHostPath)
        workerSecret = try c.decodeIfPresent(String.self, forKey: .workerSecret)
        namePrefix = try c.decodeIfPresent(String.self, forKey: .namePrefix)
        startupTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .startupTimeoutSeconds)
        leaderLease = try c.decodeIfPresent(String.self, forKey: .leaderLease)
        leaseDurationSeconds = try c.decodeIfPresent(Double.self, forKey: .leaseDurationSeconds)
        autoscaling = try c.decodeIfPresent(Autoscaling.self, forKey: .autoscaling)
    }

    /// The topology-file keys ``placement(contentsOf:)`` reads.
    static let placementKeys = ["provider", "kubernetes"]

    /// The `provider` and `kubernetes` keys of a topology file: nil for the local provider (the
    /// default), the settings for `provider: kubernetes`.
    public static func placement(contentsOf url: URL) throws(FrontEndError) -> KubernetesSettings? {
        struct Placement: Decodable {
            var provider: String?
            var kubernetes: KubernetesSettings?
        }
        let placement: Placement
        do {
            let data = try Data(contentsOf: url)
            placement = url.pathExtension.lowercased() == "json"
                ? try JSONDecoder().decode(Placement.self, from: data)
                : try YAMLDecoder().decode(Placement.self, from: data)
        } catch {
            throw .badTopology("\(url.lastPathComponent): \(error)")
        }
        switch placement.provider ?? "local" {
        case "local":
            return nil
        case "kubernetes":
            guard let settings = placement.kubernetes else {
                throw .badTopology("provider: kubernetes needs a `kubernetes:` section with at least `image`")
            }
            return settings
        case let other:
            throw .badTopology("provider \(other): use local or kubernetes")
        }
    }
}
