import Cluster
import Foundation

/// The workers a front end starts and supervises, grouped by modality (ElasticMM's text and
/// multimodal groups), plus how they talk and how the fleet adapts.
///
/// ```yaml
/// transfer: shm
/// groups:
///   - group: text
///     workers:
///       - {role: prefill, count: 1}
///       - {role: decode, count: 1}
/// ```
public struct Topology: Sendable, Hashable, Codable {
    public var groups: [GroupSpec]
    /// How KV moves between workers: `shm` (Unix sockets + shared memory, one host) or `tcp`.
    public var transfer: TransferMode
    /// Who starts a prompt's KV hand-off from prefill to decode: `pull` (the decode worker, when it
    /// takes the request) or `push` (the prefill worker, as soon as the prompt is prefilled).
    public var kvHandoff: KVHandoffMode
    /// The front end's control endpoint for workers; default: a Unix socket in a temporary folder
    /// (shm) or `tcp:127.0.0.1:0` (tcp).
    public var control: String?
    public var routing: RoutingPolicy
    public var heartbeatIntervalMs: Int
    /// A worker silent for this long is declared hung, killed and replaced.
    public var heartbeatTimeoutMs: Int
    /// Times a request is retried on a sibling after its worker died.
    public var maxRetries: Int
    /// Optional fleet planners: elastic partitioning / role switching, and per-stage autoscaling.
    public var elastic: ElasticSpec?
    /// ElasticMM's modality-level balancer moving workers between the text and multimodal groups.
    public var groupBalancer: GroupBalancerSpec?
    public var autoscale: AutoscaleSpec?
    /// Per-worker throughput the planners' cost models use (a measured profile; see docs/benchmarks.md).
    public var capacity: InstanceCapacity

    /// Measured on the fixture model with 2 CPU threads per worker (`tessera bench engine`); replace
    /// with a profile of the deployed model and hardware.
    public static let defaultCapacity = InstanceCapacity(
        encodeTokensPerSecond: 1, prefillTokensPerSecond: 4000, decodeTokensPerSecond: 400, requestsPerSecond: 4,
        kvTransferSecondsPerToken: 2e-6, decodeStepSeconds: 0.004, decodeStepSecondsPerSequence: 0.0005)

    public struct GroupSpec: Sendable, Hashable, Codable {
        public var group: ModalityGroup
        public var workers: [WorkerSpec]

        public init(group: ModalityGroup, workers: [WorkerSpec]) {
            self.group = group
            self.workers = workers
        }
    }

    public struct WorkerSpec: Sendable, Hashable, Codable {
        public var role: InstanceRole
        public var count: Int
        /// Command prefix that places the worker, e.g. `["ip", "netns", "exec", "host2"]`.
        public var launcher: [String]?
        /// The worker's transfer endpoint (`tcp:ADDRESS:0` on another host); default per `transfer`.
        public var transfer: String?
        /// Extra `tessera worker` arguments (threads, KV memory…).
        public var arguments: [String]?

        public init(role: InstanceRole, count: Int, launcher: [String]? = nil, transfer: String? = nil, arguments: [String]? = nil) {
            self.role = role
            self.count = count
            self.launcher = launcher
            self.transfer = transfer
            self.arguments = arguments
        }
    }

    public enum TransferMode: String, Sendable, Hashable, Codable {
        case shm, tcp
    }

    /// EPD's KV hand-off: pull-based, with asynchronous push as an option.
    public enum KVHandoffMode: String, Sendable, Hashable, Codable {
        case pull, push
    }

    public enum RoutingPolicy: String, Sendable, Hashable, Codable {
        /// ElasticMM: cache affinity within slack, else least loaded.
        case modality
        /// ModServe: fewest pending (image) tokens.
        case leastPendingImageTokens = "least-pending-image-tokens"
        case leastLoaded = "least-loaded"
    }

    public struct ElasticSpec: Sendable, Hashable, Codable {
        /// `elastic-partitioner` (ElasticMM gain–cost) or `role-switcher` (EPD queue balancing).
        public var planner: String
        public var intervalSeconds: Double
        /// Weight of the decode slowdown in the gain–cost test.
        public var decodeSlowdownWeight: Double?
        /// Requests waiting per instance before the role switcher moves one.
        public var minimumQueue: Double?
    }

    public struct GroupBalancerSpec: Sendable, Hashable, Codable {
        public var intervalSeconds: Double
        /// Waiting requests per instance that count as a burst (reactive preemption across groups).
        public var burstQueueThreshold: Double?
        /// Windows of history before the first proactive split, and seconds between proactive splits.
        public var historyLength: Int?
        public var proactivePeriodSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case intervalSeconds = "interval_seconds"
            case burstQueueThreshold = "burst_queue_threshold"
            case historyLength = "history_length"
            case proactivePeriodSeconds = "proactive_period_seconds"
        }
    }

    public struct AutoscaleSpec: Sendable, Hashable, Codable {
        public var intervalSeconds: Double
        public var evaluationSeconds: Double
        public var maximumWorkers: Int
        /// SLO attainment under which a worker is added between evaluations.
        public var attainmentTarget: Double?
        public var ttftSLOSeconds: Double?
    }

    public init(groups: [GroupSpec], transfer: TransferMode = .shm, kvHandoff: KVHandoffMode = .pull, control: String? = nil, routing: RoutingPolicy = .modality,
                heartbeatIntervalMs: Int = 200, heartbeatTimeoutMs: Int = 3000, maxRetries: Int = 2,
                elastic: ElasticSpec? = nil, autoscale: AutoscaleSpec? = nil, capacity: InstanceCapacity = Topology.defaultCapacity) {
        self.groups = groups
        self.transfer = transfer
        self.kvHandoff = kvHandoff
        self.control = control
        self.routing = routing
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.heartbeatTimeoutMs = heartbeatTimeoutMs
        self.maxRetries = maxRetries
        self.elastic = elastic
        self.autoscale = autoscale
        self.capacity = capacity
    }

    enum CodingKeys: String, CodingKey {
        case groups, transfer, control, routing, elastic, autoscale, capacity
        case groupBalancer = "group_balancer"
        case kvHandoff = "kv_handoff"
        case heartbeatIntervalMs = "heartbeat_interval_ms"
        case heartbeatTimeoutMs = "heartbeat_timeout_ms"
        case maxRetries = "max_retries"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        groups = try c.decode([GroupSpec].self, forKey: .groups)
        transfer = try c.decodeIfPresent(TransferMode.self, forKey: .transfer) ?? .shm
        kvHandoff = try c.decodeIfPresent(KVHandoffMode.self, forKey: .kvHandoff) ?? .pull
        control = try c.decodeIfPresent(String.self, forKey: .control)
        routing = try c.decodeIfPresent(RoutingPolicy.self, forKey: .routing) ?? .modality
        heartbeatIntervalMs = try c.decodeIfPresent(Int.self, forKey: .heartbeatIntervalMs) ?? 200
        heartbeatTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .heartbeatTimeoutMs) ?? 3000
        maxRetries = try c.decodeIfPresent(Int.self, forKey: .maxRetries) ?? 2
        elastic = try c.decodeIfPresent(ElasticSpec.self, forKey: .elastic)
        groupBalancer = try c.decodeIfPresent(GroupBalancerSpec.self, forKey: .groupBalancer)
        autoscale = try c.decodeIfPresent(AutoscaleSpec.self, forKey: .autoscale)
        capacity = try c.decodeIfPresent(InstanceCapacity.self, forKey: .capacity) ?? Topology.defaultCapacity
    }

    /// Every worker the topology starts, in slot order.
    public var slots: [(group: ModalityGroup, spec: WorkerSpec)] {
        groups.flatMap { g in g.workers.flatMap { w in Array(repeating: (g.group, w), count: w.count) } }
    }
}

extension Topology.ElasticSpec {
    enum CodingKeys: String, CodingKey {
        case planner
        case intervalSeconds = "interval_seconds"
        case decodeSlowdownWeight = "decode_slowdown_weight"
        case minimumQueue = "minimum_queue"
    }
}

extension Topology.AutoscaleSpec {
    enum CodingKeys: String, CodingKey {
        case intervalSeconds = "interval_seconds"
        case evaluationSeconds = "evaluation_seconds"
        case maximumWorkers = "maximum_workers"
        case attainmentTarget = "attainment_target"
        case ttftSLOSeconds = "ttft_slo_seconds"
    }
}
