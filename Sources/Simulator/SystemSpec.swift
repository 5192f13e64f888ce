import Cluster
import CoreUtilities

/// One serving system to simulate: a starting deployment and the policies it runs.
///
/// The policies are a ``PolicySpec`` (`router`, `encodeDispatcher`, `imageRouter`, `batcher`, `imageBatcher`, `planners`, by their
/// ``PolicyCatalog`` names, and `stepTimeTargetMs`), read from the same keys and with the same defaults as a live topology file.
public struct SystemSpec: Sendable, Hashable, Codable {
    public var name: String
    public var deployment: Deployment
    public var policies = PolicySpec()
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
    /// Every instance is one mono worker split by layers over these stages (UELLM's HELR), by the
    /// plan the live front end launches; its steps cost what ``PipelineSplit`` says.
    public var pipeline: Pipeline?
    /// Image workers: the step-batch cap (default the cost model's `diffusion.maxBatchSize`; 1 runs
    /// one image at a time), the step a LoRA joins at (the server's `--lora-start-step`, Katz §BAL),
    /// and the CFG split of the image pool (a topology's `cfg_split`).
    public var maxImageBatch: Int?
    /// Image workers' activation memory budget in MiB (`--image-memory`; default
    /// ``ImageMemoryBudget/defaultBytes``), against the cost model's `diffusion.memory`.
    public var imageMemoryMiB: Int?
    public var loraStartStep: Int?
    public var cfgSplit: Bool = false

    /// A layer-split instance: the model's shape, the stages' budgets, and the compute speed of the
    /// hardware the cost model was measured on (which ran the model whole).
    public struct Pipeline: Sendable, Hashable, Codable {
        public var model: PipelineSplit.DecoderShape
        public var stages: [PipelineSplit.Stage]
        public var referenceFlopsPerSecond: Double

        public init(model: PipelineSplit.DecoderShape, stages: [PipelineSplit.Stage], referenceFlopsPerSecond: Double) {
            self.model = model
            self.stages = stages
            self.referenceFlopsPerSecond = referenceFlopsPerSecond
        }

        public var split: PipelineSplit { PipelineSplit(units: PipelineSplit.units(of: model), stages: stages) }
    }

    /// Search settings for ``optimizeSplit``: batch limits to try, the rate (req/s) to maximise
    /// goodput at (default: the first swept rate), and the price per instance.
    public struct SplitSearch: Sendable, Hashable, Codable {
        public var batchLimits: [Int]
        public var rate: Double?
        public var beta: Double?

        public init(batchLimits: [Int], rate: Double? = nil, beta: Double? = nil) {
            self.batchLimits = batchLimits
            self.rate = rate
            self.beta = beta
        }
    }

    public init(name: String, deployment: Deployment) {
        self.name = name
        self.deployment = deployment
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, deployment, batching, prefixCache, predictLengths, maxPrefillBatch, maxInstances, optimizeSplit, roleSwitchSeconds, blockingPreprocessMsPerImage, firstTokenOnDecode
        case pipeline, maxImageBatch, imageMemoryMiB, loraStartStep, cfgSplit
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.stringValue) + PolicySpec.keys),
                                      hints: ["plannerOptions": " (give options per planner: {\"name\": …, \"interval\": …})"])
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        deployment = try c.decode(Deployment.self, forKey: .deployment)
        policies = try PolicySpec(from: decoder)
        batching = try c.decodeIfPresent(String.self, forKey: .batching) ?? batching
        prefixCache = try c.decodeIfPresent(Bool.self, forKey: .prefixCache) ?? prefixCache
        predictLengths = try c.decodeIfPresent(Bool.self, forKey: .predictLengths) ?? predictLengths
        maxPrefillBatch = try c.decodeIfPresent(Int.self, forKey: .maxPrefillBatch)
        maxInstances = try c.decodeIfPresent(Int.self, forKey: .maxInstances)
        optimizeSplit = try c.decodeIfPresent(SplitSearch.self, forKey: .optimizeSplit)
        roleSwitchSeconds = try c.decodeIfPresent(Double.self, forKey: .roleSwitchSeconds)
        blockingPreprocessMsPerImage = try c.decodeIfPresent(Double.self, forKey: .blockingPreprocessMsPerImage)
        firstTokenOnDecode = try c.decodeIfPresent(Bool.self, forKey: .firstTokenOnDecode) ?? firstTokenOnDecode
        pipeline = try c.decodeIfPresent(Pipeline.self, forKey: .pipeline)
        maxImageBatch = try c.decodeIfPresent(Int.self, forKey: .maxImageBatch)
        imageMemoryMiB = try c.decodeIfPresent(Int.self, forKey: .imageMemoryMiB)
        loraStartStep = try c.decodeIfPresent(Int.self, forKey: .loraStartStep)
        cfgSplit = try c.decodeIfPresent(Bool.self, forKey: .cfgSplit) ?? cfgSplit
    }

    public func encode(to encoder: any Encoder) throws {
        try policies.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(deployment, forKey: .deployment)
        try c.encode(batching, forKey: .batching)
        try c.encode(prefixCache, forKey: .prefixCache)
        try c.encode(predictLengths, forKey: .predictLengths)
        try c.encodeIfPresent(maxPrefillBatch, forKey: .maxPrefillBatch)
        try c.encodeIfPresent(maxInstances, forKey: .maxInstances)
        try c.encodeIfPresent(optimizeSplit, forKey: .optimizeSplit)
        try c.encodeIfPresent(roleSwitchSeconds, forKey: .roleSwitchSeconds)
        try c.encodeIfPresent(blockingPreprocessMsPerImage, forKey: .blockingPreprocessMsPerImage)
        try c.encode(firstTokenOnDecode, forKey: .firstTokenOnDecode)
        try c.encodeIfPresent(pipeline, forKey: .pipeline)
        try c.encodeIfPresent(maxImageBatch, forKey: .maxImageBatch)
        try c.encodeIfPresent(imageMemoryMiB, forKey: .imageMemoryMiB)
        try c.encodeIfPresent(loraStartStep, forKey: .loraStartStep)
        try c.encode(cfgSplit, forKey: .cfgSplit)
    }
}
