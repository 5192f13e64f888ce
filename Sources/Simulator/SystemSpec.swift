import Cluster

/// One serving system to simulate: a starting deployment and the policies it runs.
/// Policy names map to the `Cluster` implementations (see ``PolicyCatalog``).
public struct SystemSpec: Sendable, Hashable, Codable {
    public var name: String
    public var deployment: Deployment
    /// `least-loaded`, `modality` (ElasticMM) or `least-pending-image-tokens` (ModServe).
    public var router: String = "least-loaded"
    /// `least-loaded`, `least-pending-image-tokens` (ModServe) or `intra-request` (EPD).
    public var encodeDispatcher: String = "least-loaded"
    /// `fcfs`, `slo-short-first` (ModServe) or `slo-ordered` (UELLM).
    public var batcher: String = "fcfs"
    /// Any of `burst-tolerance`, `elastic-partition` (ElasticMM), `stage-autoscaler` (ModServe), `role-switcher` (EPD).
    public var planners: [String] = []
    /// How monolithic instances batch: `chunked` (vLLM V1: every step decodes the running batch and
    /// fills the rest of the token budget with prefill chunks), `continuous` (vLLM V0: whole
    /// prefills take priority over decode steps) or `static` (run-to-completion padded batches, as in
    /// HF transformers).
    public var batching: String = "chunked"
    /// Encoder-output and KV prefix caches keyed by image hash (ElasticMM's unified prefix cache).
    public var prefixCache: Bool = false
    /// Use the output-length predictor for `predictedOutputTokens` (UELLM's profiler).
    public var predictLengths: Bool = false
    /// Upper bound on prefill batch size (defaults to the cost model's).
    public var maxPrefillBatch: Int?
    /// Upper bound on the fleet for planners that launch instances.
    public var maxInstances: Int?
    /// Planner parameters overriding the papers' defaults: `interval`, `evaluationPeriod`,
    /// `targetUtilization` (stage autoscaler), `proactivePeriod` (burst tolerance).
    public var plannerOptions: [String: Double]?
    /// Seconds a role change takes, overriding the cost model: ElasticMM's elastic instances keep
    /// the whole model loaded, so a switch is only a scheduling change (0) plus KV migration.
    public var roleSwitchSeconds: Double?
    /// Choose the E/P/D split and prefill batch limit with EPD's ``ConfigOptimizer`` before running.
    public var optimizeSplit: SplitSearch?
    /// CPU image preprocessing, milliseconds per image, that an instance encoding images itself runs
    /// inside its engine step, stalling every request of the batch — vLLM V0, where the HF processor
    /// runs in the engine process: the coupled baseline that ElasticMM's non-blocking encoding is
    /// measured against. Added to the cost model's per-image encode time; nil means none.
    public var blockingPreprocessMsPerImage: Double?
    /// Prefill instances hand the KV over without sampling, and the decode instance runs the last
    /// prompt token and samples the first output token in its next step (Tessera's worker
    /// processes). False: the prefill instance samples it (DistServe, vLLM's disaggregated prefill).
    public var firstTokenOnDecode: Bool = false

    /// Search settings for ``optimizeSplit``: batch limits to try, the rate (req/s) to maximise
    /// goodput at (default: the first swept rate), and the price per instance.
    public struct SplitSearch: Sendable, Hashable, Codable {
        public var batchLimits: [Int]
        public var rate: Double?
        public var beta: Double?
    }

    public init(name: String, deployment: Deployment) {
        self.name = name
        self.deployment = deployment
    }

    enum CodingKeys: String, CodingKey {
        case name, deployment, router, encodeDispatcher, batcher, planners, batching, prefixCache, predictLengths, maxPrefillBatch, maxInstances, plannerOptions, optimizeSplit, roleSwitchSeconds, blockingPreprocessMsPerImage, firstTokenOnDecode
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        deployment = try c.decode(Deployment.self, forKey: .deployment)
        router = try c.decodeIfPresent(String.self, forKey: .router) ?? router
        encodeDispatcher = try c.decodeIfPresent(String.self, forKey: .encodeDispatcher) ?? encodeDispatcher
        batcher = try c.decodeIfPresent(String.self, forKey: .batcher) ?? batcher
        planners = try c.decodeIfPresent([String].self, forKey: .planners) ?? planners
        batching = try c.decodeIfPresent(String.self, forKey: .batching) ?? batching
        prefixCache = try c.decodeIfPresent(Bool.self, forKey: .prefixCache) ?? prefixCache
        predictLengths = try c.decodeIfPresent(Bool.self, forKey: .predictLengths) ?? predictLengths
        maxPrefillBatch = try c.decodeIfPresent(Int.self, forKey: .maxPrefillBatch)
        maxInstances = try c.decodeIfPresent(Int.self, forKey: .maxInstances)
        plannerOptions = try c.decodeIfPresent([String: Double].self, forKey: .plannerOptions)
        optimizeSplit = try c.decodeIfPresent(SplitSearch.self, forKey: .optimizeSplit)
        roleSwitchSeconds = try c.decodeIfPresent(Double.self, forKey: .roleSwitchSeconds)
        blockingPreprocessMsPerImage = try c.decodeIfPresent(Double.self, forKey: .blockingPreprocessMsPerImage)
        firstTokenOnDecode = try c.decodeIfPresent(Bool.self, forKey: .firstTokenOnDecode) ?? firstTokenOnDecode
    }
}

/// Maps policy names in configs to policy objects.
public enum PolicyCatalog {
    public static func router(_ name: String) throws -> any RequestRouter {
        switch name {
        case "least-loaded": LeastLoadedRouter()
        case "modality": ModalityRouter()
        case "least-pending-image-tokens": LeastPendingImageTokensRouter()
        default: throw SimulationError.invalidConfig("unknown router '\(name)'")
        }
    }

    public static func encodeDispatcher(_ name: String) throws -> any EncodeDispatcher {
        switch name {
        case "least-loaded": LeastLoadedRouter()
        case "least-pending-image-tokens": LeastPendingImageTokensRouter()
        case "intra-request": IntraRequestEncodeSplitter()
        default: throw SimulationError.invalidConfig("unknown encode dispatcher '\(name)'")
        }
    }

    public static func batcher(_ name: String) throws -> any BatchPolicy {
        switch name {
        case "fcfs": FCFSBatcher()
        case "slo-short-first": SLOShortFirstBatcher()
        case "slo-ordered": SLOOrderedBatcher()
        default: throw SimulationError.invalidConfig("unknown batcher '\(name)'")
        }
    }

    public static func planner(_ name: String, capacity: InstanceCapacity, maxInstances: Int, options: [String: Double] = [:]) throws -> any FleetPlanner {
        let known: Set<String> = ["interval", "evaluationPeriod", "targetUtilization", "proactivePeriod"]
        if let unknown = options.keys.sorted().first(where: { !known.contains($0) }) {
            throw SimulationError.invalidConfig("unknown planner option '\(unknown)'")
        }
        guard options.values.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw SimulationError.invalidConfig("planner options must be positive") }
        switch name {
        case "burst-tolerance":
            return BurstTolerancePlanner(capacity: capacity, interval: options["interval"] ?? 5, proactivePeriod: options["proactivePeriod"] ?? 600)
        case "elastic-partition":
            return ElasticPartitioner(capacity: capacity, interval: options["interval"] ?? 2)
        case "stage-autoscaler":
            return StageAutoscaler(capacity: capacity, interval: options["interval"] ?? 60, evaluationPeriod: options["evaluationPeriod"] ?? 300,
                                   targetUtilization: options["targetUtilization"] ?? 1, maximumInstances: maxInstances)
        case "role-switcher":
            return RoleSwitcher(interval: options["interval"] ?? 5)
        default:
            throw SimulationError.invalidConfig("unknown planner '\(name)'")
        }
    }
}
