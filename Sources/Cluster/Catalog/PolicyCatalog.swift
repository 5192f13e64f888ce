/// The one place policies are named: maps the names in topology files and simulation configs to
/// the `Cluster` policy objects, with each planner's options and their defaults. The live front end
/// and the simulator both build their policies here.
///
/// ```swift
/// let router = try PolicyCatalog.router("modality")
/// let planner = try PolicyCatalog.planner(PlannerSpec("stage-autoscaler", options: ["interval": 30]),
///                                         capacity: capacity, maxInstances: 8)
/// ```
public enum PolicyCatalog {
    /// Request routers: least loaded (vLLM-like baseline), ElasticMM's modality-aware,
    /// cache-affine router, ModServe's least pending image tokens.
    public static let routers = ["least-loaded", "modality", "least-pending-image-tokens"]
    /// Image routers (diffusion workers): the fewest images queued, Katz-style adapter affinity.
    public static let imageRouters = ["least-queued-images", "adapter-affinity"]
    /// How a request's images are spread over encode instances: whole requests to the least loaded,
    /// ModServe's least pending image tokens, EPD's intra-request split.
    public static let encodeDispatchers = ["least-loaded", "least-pending-image-tokens", "intra-request"]
    /// Which running images share a UNet step: any LoRAs together (unmerged per row when they
    /// differ), or one LoRA set per call (merged weights).
    public static let imageBatchers = ["mixed-lora", "lora-homogeneous"]
    /// Prefill batch order: FCFS, ModServe's SLO-driven short-first, UELLM's SLO-ODBS.
    public static let batchers = ["fcfs", "slo-short-first", "slo-ordered"]
    /// Fleet planners and the options each takes: ElasticMM's burst tolerance across modality groups
    /// and elastic partitioning within a group, ModServe's per-stage autoscaler, EPD's role switcher.
    /// Every planner takes `interval`, the seconds between its rounds (and the span of its load window).
    public static let plannerOptions: [String: [String]] = [
        "burst-tolerance": ["interval", "proactivePeriod", "historyLength", "peakSlopeFactor", "burstQueueThreshold"],
        "elastic-partition": ["interval", "decodeSlowdownWeight", "backlogSeconds", "decodePressure"],
        "stage-autoscaler": ["interval", "evaluationPeriod", "attainmentTarget", "minimumPerRole", "targetUtilization", "maximumInstances"],
        "role-switcher": ["interval", "minimumQueue", "cooldownRounds"],
        "controlnet-scaler": ["interval", "targetUtilization", "minimumInstances", "maximumInstances"],
    ]

    public static func router(_ name: String) throws(ClusterError) -> any RequestRouter {
        switch name {
        case "least-loaded": LeastLoadedRouter()
        case "modality": ModalityRouter()
        case "least-pending-image-tokens": LeastPendingImageTokensRouter()
        default: throw unknown("router", name, routers)
        }
    }

    public static func imageRouter(_ name: String) throws(ClusterError) -> any ImageRouter {
        switch name {
        case "least-queued-images": DiffusionRouter()
        case "adapter-affinity": AdapterAffinityRouter()
        default: throw unknown("image router", name, imageRouters)
        }
    }

    public static func imageBatcher(_ name: String) throws(ClusterError) -> any StepBatchPolicy {
        switch name {
        case "mixed-lora": MixedLoRAStepBatch()
        case "lora-homogeneous": LoRAHomogeneousStepBatch()
        default: throw unknown("image batcher", name, imageBatchers)
        }
    }

    public static func encodeDispatcher(_ name: String) throws(ClusterError) -> any EncodeDispatcher {
        switch name {
        case "least-loaded": LeastLoadedRouter()
        case "least-pending-image-tokens": LeastPendingImageTokensRouter()
        case "intra-request": IntraRequestEncodeSplitter()
        default: throw unknown("encode dispatcher", name, encodeDispatchers)
        }
    }

    public static func batcher(_ name: String) throws(ClusterError) -> any BatchPolicy {
        switch name {
        case "fcfs": FCFSBatcher()
        case "slo-short-first": SLOShortFirstBatcher()
        case "slo-ordered": SLOOrderedBatcher()
        default: throw unknown("batcher", name, batchers)
        }
    }

    /// The planner `spec` names, its unset options at the planner's own defaults. `maxInstances`
    /// bounds a planner that launches instances unless the spec sets `maximumInstances`.
    public static func planner(_ spec: PlannerSpec, capacity: InstanceCapacity, maxInstances: Int = .max) throws(ClusterError) -> any FleetPlanner {
        try check(spec)
        let o = spec.options
        func int(_ key: String, _ fallback: Int) -> Int { o[key].map { $0 >= Double(Int.max) ? .max : Int($0) } ?? fallback }
        switch spec.name {
        case "burst-tolerance":
            let d = BurstTolerancePlanner(capacity: capacity)
            return BurstTolerancePlanner(
                capacity: capacity, interval: o["interval"] ?? d.interval, proactivePeriod: o["proactivePeriod"] ?? d.proactivePeriod,
                historyLength: int("historyLength", d.historyLength), peakSlopeFactor: o["peakSlopeFactor"] ?? d.peakSlopeFactor,
                burstQueueThreshold: o["burstQueueThreshold"] ?? d.burstQueueThreshold)
        case "elastic-partition":
            let d = ElasticPartitioner(capacity: capacity)
            return ElasticPartitioner(
                capacity: capacity, interval: o["interval"] ?? d.interval, decodeSlowdownWeight: o["decodeSlowdownWeight"] ?? d.decodeSlowdownWeight,
                backlogSeconds: o["backlogSeconds"] ?? d.backlogSeconds, decodePressure: o["decodePressure"] ?? d.decodePressure)
        case "stage-autoscaler":
            let d = StageAutoscaler(capacity: capacity)
            return StageAutoscaler(
                capacity: capacity, interval: o["interval"] ?? d.interval, evaluationPeriod: o["evaluationPeriod"] ?? d.evaluationPeriod,
                attainmentTarget: o["attainmentTarget"] ?? d.attainmentTarget, minimumPerRole: int("minimumPerRole", d.minimumPerRole),
                targetUtilization: o["targetUtilization"] ?? d.targetUtilization, maximumInstances: int("maximumInstances", maxInstances))
        case "controlnet-scaler":
            let seconds = capacity.controlNetSecondsPerCall ?? 0, perPixel = capacity.controlNetSecondsPerCallPixel ?? 0
            let perPixelSquared = capacity.controlNetSecondsPerCallPixelSquared ?? 0
            guard seconds >= 0, perPixel >= 0, perPixelSquared >= 0, seconds + perPixel + perPixelSquared > 0 else {
                throw .invalidArgument("planner 'controlnet-scaler' needs the seconds of one ControlNet call: a cost model with a diffusion section "
                    + "(tessera profile --image-model DIR), or controlNetSecondsPerCall in the capacity")
            }
            let d = ControlNetPoolScaler(secondsPerCall: seconds)
            return ControlNetPoolScaler(secondsPerCall: seconds, secondsPerCallPixel: perPixel, secondsPerCallPixelSquared: perPixelSquared,
                                        interval: o["interval"] ?? d.interval,
                                        targetUtilization: o["targetUtilization"] ?? d.targetUtilization,
                                        minimumInstances: int("minimumInstances", d.minimumInstances),
                                        maximumInstances: int("maximumInstances", maxInstances))
        default:
            let d = RoleSwitcher()
            return RoleSwitcher(interval: o["interval"] ?? d.interval, minimumQueue: o["minimumQueue"] ?? d.minimumQueue,
                                cooldownRounds: int("cooldownRounds", d.cooldownRounds))
        }
    }

    /// Checks every name and planner option of `spec` without building anything.
    public static func validate(_ spec: PolicySpec) throws(ClusterError) {
        _ = try router(spec.router)
        _ = try encodeDispatcher(spec.encodeDispatcher)
        _ = try imageRouter(spec.imageRouter)
        _ = try batcher(spec.batcher)
        _ = try imageBatcher(spec.imageBatcher)
        for planner in spec.planners { try check(planner) }
    }

    private static func check(_ spec: PlannerSpec) throws(ClusterError) {
        guard let known = plannerOptions[spec.name] else {
            throw unknown("planner", spec.name, plannerOptions.keys.sorted())
        }
        if let bad = spec.options.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidArgument("planner '\(spec.name)' has no option '\(bad)'; its options are \(known.joined(separator: ", "))")
        }
        if let (key, value) = spec.options.sorted(by: { $0.key < $1.key }).first(where: { !($0.value > 0) || $0.value.isNaN }) {
            throw .invalidArgument("planner '\(spec.name)' option '\(key)' must be positive, got \(value)")
        }
    }

    private static func unknown(_ kind: String, _ name: String, _ known: [String]) -> ClusterError {
        .invalidArgument("unknown \(kind) '\(name)'; known: \(known.joined(separator: ", "))")
    }
}
