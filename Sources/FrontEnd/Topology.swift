import Cluster
import CoreUtilities
import Foundation

/// The workers a front end starts and supervises, grouped by modality (ElasticMM's text and
/// multimodal groups), plus how they talk and the policies that route requests and adapt the fleet
/// (a ``PolicySpec``, with the same names and defaults as a simulation config).
///
/// ```yaml
/// transfer: shm
/// router: modality
/// planners: [{name: elastic-partition, interval: 2}]
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
    /// Router, encode dispatcher, batcher and fleet planners, by their ``PolicyCatalog`` names.
    public var policies: PolicySpec
    public var heartbeatIntervalMs: Int
    /// A worker silent for this long is declared hung, killed and replaced.
    public var heartbeatTimeoutMs: Int
    /// Times a request is retried on a sibling after its worker died.
    public var maxRetries: Int
    /// The wait before relaunching a worker that keeps dying: doubling from this…
    public var restartBackoffInitialMs: Int
    /// …up to this; a slot is relaunched for as long as the front end runs.
    public var restartBackoffMaxMs: Int
    /// Per-worker throughput the planners' cost models use; `tessera serve --profile` derives it
    /// from a `tessera profile` cost model instead.
    public var capacity: InstanceCapacity
    /// EPD's configuration search for the multimodal group's split, run at launch on the
    /// `--profile` cost model (``SplitOptimization``).
    public var optimizeSplit: SplitOptimization?
    /// The split ``applying(_:)`` set: what the search chose, in `/metrics` as `tessera:epd_split_workers`.
    public var chosenSplit: ConfigOptimizer.Candidate?

    /// Measured on the fixture model with 2 CPU threads per worker (`tessera bench engine`); replace
    /// with a profile of the deployed model and hardware.
    public static let defaultCapacity = InstanceCapacity(
        encodeTokensPerSecond: 1, prefillTokensPerSecond: 4000, decodeTokensPerSecond: 400, requestsPerSecond: 4,
        kvTransferSecondsPerToken: 2e-6, decodeStepSeconds: 0.004, decodeStepSecondsPerSequence: 0.0005)

    public struct GroupSpec: Sendable, Hashable, Codable {
        public var group: ModalityGroup
        public var workers: [WorkerSpec]
        /// The `image` pool's CFG split (Katz latent parallelism): each guided image's
        /// unconditional UNet passes run on a second worker, noise predictions exchanged every step.
        public var cfgSplit: Bool?

        public init(group: ModalityGroup, workers: [WorkerSpec], cfgSplit: Bool? = nil) {
            self.group = group
            self.workers = workers
            self.cfgSplit = cfgSplit
        }

        enum CodingKeys: String, CodingKey {
            case group, workers
            case cfgSplit = "cfg_split"
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
        /// The processes a mono worker's model may be split over by layers (UELLM's HELR): the
        /// front end's ``LayerPlacement`` picks the split from their memory budgets and links.
        public var pipeline: [PipelineStageSpec]?

        public init(role: InstanceRole, count: Int, launcher: [String]? = nil, transfer: String? = nil, arguments: [String]? = nil,
                    pipeline: [PipelineStageSpec]? = nil) {
            self.role = role
            self.count = count
            self.launcher = launcher
            self.transfer = transfer
            self.arguments = arguments
            self.pipeline = pipeline
        }
    }

    /// One process a pipelined worker may place layers on, in the terms of ``PipelineSplit/Stage``.
    ///
    /// ```yaml
    /// - role: mono
    ///   count: 1
    ///   pipeline:
    ///     - {memory_mib: 4096}
    ///     - {memory_mib: 4096, launcher: [ip, netns, exec, host2], transfer: "tcp:10.0.0.2:7100"}
    /// ```
    public struct PipelineStageSpec: Sendable, Hashable, Codable {
        /// MiB of weights the process may hold.
        public var memoryMiB: Double
        /// Its compute speed; equal by default.
        public var gflops: Double
        /// Its link's bandwidth in GB/s; default 10 over shared memory, 1 over TCP.
        public var linkGBps: Double?
        /// Command prefix placing the process; default: the worker's.
        public var launcher: [String]?
        /// Where a later stage listens (`tcp:HOST:PORT`); default per `transfer`.
        public var transfer: String?
        /// Extra arguments for this stage's process (`--kv-cache-memory`, `--threads`).
        public var arguments: [String]?

        public init(memoryMiB: Double, gflops: Double = 1, linkGBps: Double? = nil, launcher: [String]? = nil, transfer: String? = nil,
                    arguments: [String]? = nil) {
            self.memoryMiB = memoryMiB
            self.gflops = gflops
            self.linkGBps = linkGBps
            self.launcher = launcher
            self.transfer = transfer
            self.arguments = arguments
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case gflops, launcher, transfer, arguments
            case memoryMiB = "memory_mib"
            case linkGBps = "link_gbps"
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.stringValue)))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            memoryMiB = try c.decode(Double.self, forKey: .memoryMiB)
            gflops = try c.decodeIfPresent(Double.self, forKey: .gflops) ?? 1
            linkGBps = try c.decodeIfPresent(Double.self, forKey: .linkGBps)
            launcher = try c.decodeIfPresent([String].self, forKey: .launcher)
            transfer = try c.decodeIfPresent(String.self, forKey: .transfer)
            arguments = try c.decodeIfPresent([String].self, forKey: .arguments)
        }
    }

    public enum TransferMode: String, Sendable, Hashable, Codable {
        case shm, tcp
    }

    /// EPD's KV hand-off: pull-based, with asynchronous push as an option.
    public enum KVHandoffMode: String, Sendable, Hashable, Codable {
        case pull, push
    }

    public init(groups: [GroupSpec], transfer: TransferMode = .shm, kvHandoff: KVHandoffMode = .pull, control: String? = nil,
                policies: PolicySpec = PolicySpec(),
                heartbeatIntervalMs: Int = 200, heartbeatTimeoutMs: Int = 3000, maxRetries: Int = 2,
                restartBackoffInitialMs: Int = 500, restartBackoffMaxMs: Int = 30000,
                capacity: InstanceCapacity = Topology.defaultCapacity) {
        self.groups = groups
        self.transfer = transfer
        self.kvHandoff = kvHandoff
        self.control = control
        self.policies = policies
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.heartbeatTimeoutMs = heartbeatTimeoutMs
        self.maxRetries = maxRetries
        self.restartBackoffInitialMs = restartBackoffInitialMs
        self.restartBackoffMaxMs = restartBackoffMaxMs
        self.capacity = capacity
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case groups, transfer, control, capacity, optimizeSplit
        case kvHandoff = "kv_handoff"
        case heartbeatIntervalMs = "heartbeat_interval_ms"
        case heartbeatTimeoutMs = "heartbeat_timeout_ms"
        case maxRetries = "max_retries"
        case restartBackoffInitialMs = "restart_backoff_initial_ms"
        case restartBackoffMaxMs = "restart_backoff_max_ms"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.stringValue) + PolicySpec.keys + KubernetesSettings.placementKeys),
                                      hints: ["routing": " (now `router`)", "elastic": " (now a `planners` entry)",
                                              "group_balancer": " (now a `planners` entry)", "autoscale": " (now a `planners` entry)",
                                              "slo": " (requests name an SLO class, defined by `tessera serve --slo-class`)"])
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policies = try PolicySpec(from: decoder)
        groups = try c.decode([GroupSpec].self, forKey: .groups)
        transfer = try c.decodeIfPresent(TransferMode.self, forKey: .transfer) ?? .shm
        kvHandoff = try c.decodeIfPresent(KVHandoffMode.self, forKey: .kvHandoff) ?? .pull
        control = try c.decodeIfPresent(String.self, forKey: .control)
        heartbeatIntervalMs = try c.decodeIfPresent(Int.self, forKey: .heartbeatIntervalMs) ?? 200
        heartbeatTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .heartbeatTimeoutMs) ?? 3000
        maxRetries = try c.decodeIfPresent(Int.self, forKey: .maxRetries) ?? 2
        restartBackoffInitialMs = try c.decodeIfPresent(Int.self, forKey: .restartBackoffInitialMs) ?? 500
        restartBackoffMaxMs = try c.decodeIfPresent(Int.self, forKey: .restartBackoffMaxMs) ?? 30000
        capacity = try c.decodeIfPresent(InstanceCapacity.self, forKey: .capacity) ?? Topology.defaultCapacity
        optimizeSplit = try c.decodeIfPresent(SplitOptimization.self, forKey: .optimizeSplit)
    }

    public func encode(to encoder: any Encoder) throws {
        try policies.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(groups, forKey: .groups)
        try c.encode(transfer, forKey: .transfer)
        try c.encode(kvHandoff, forKey: .kvHandoff)
        try c.encodeIfPresent(control, forKey: .control)
        try c.encode(heartbeatIntervalMs, forKey: .heartbeatIntervalMs)
        try c.encode(heartbeatTimeoutMs, forKey: .heartbeatTimeoutMs)
        try c.encode(maxRetries, forKey: .maxRetries)
        try c.encode(restartBackoffInitialMs, forKey: .restartBackoffInitialMs)
        try c.encode(restartBackoffMaxMs, forKey: .restartBackoffMaxMs)
        try c.encode(capacity, forKey: .capacity)
        try c.encodeIfPresent(optimizeSplit, forKey: .optimizeSplit)
    }

    /// How long a slot whose worker keeps dying waits before each relaunch.
    public var restartBackoff: RestartBackoff {
        RestartBackoff(initial: .milliseconds(restartBackoffInitialMs), maximum: .milliseconds(restartBackoffMaxMs))
    }

    /// Every worker the topology starts, in slot order.
    public var slots: [(group: ModalityGroup, spec: WorkerSpec)] {
        groups.flatMap { g in g.workers.flatMap { w in Array(repeating: (g.group, w), count: w.count) } }
    }
}
