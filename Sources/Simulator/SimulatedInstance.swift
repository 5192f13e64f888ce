import Cluster
import CoreUtilities
import DequeModule

/// Mutable state of one simulated instance. Internal to the engine; policies see only
/// ``InstanceStatus`` snapshots.
final class SimulatedInstance {
    enum Phase { case starting, active, draining, switching, retired }

    struct EncodeJob {
        var request: Int
        var tokens: Int
        var imageIndices: [Int]
    }

    /// An in-flight run of decode steps, cut short when new work must join at a step boundary.
    struct DecodeRun {
        var start: Double
        var steps: Int
        var batch: Int
        var context: Int
    }

    let id: Int
    var role: InstanceRole
    var group: ModalityGroup
    var phase: Phase
    var pending: FleetAction?
    var busy = false
    /// Bumped to invalidate a scheduled completion event.
    var version = 0

    var encodeQueue = Deque<EncodeJob>()
    var prefillQueue = PriorityQueue()
    var running: [Int] = []
    var waiting = Deque<Int>()
    var inFlight: [Int] = []
    var inFlightJobs: [EncodeJob] = []
    var decodeRun: DecodeRun?
    /// Chunked prefill: requests admitted and partly prefilled, and the chunks of the step in flight.
    var prefilling: [Int] = []
    var stepChunks: [(request: Int, tokens: Int)] = []

    /// Decode steps executed so far; requests finish at a step count.
    var steps = 0
    /// Σ context tokens of the running batch.
    var context = 0
    var kvUsed = 0
    var pendingImageTokens = 0
    var pendingPrefillTokens = 0

    /// Image workers: images routed here and not yet admitted, admitted ones (oldest first), the
    /// step in flight, images whose unconditional rows run here for a CFG-split peer.
    var imageQueue = Deque<Int>()
    var imageRunning: [Int] = []
    var imageStep: [Int] = []
    var peerImages: [Int] = []
    /// LoRA names in the adapter cache, when its loader is next free, what is merged into the weights.
    var loras: LRUCache<String, Void>
    var loaderFree = 0.0
    var mergedLoRAs: [String]?

    var encoderCache: LRUCache<ImageID, Void>
    var prefixCache: LRUCache<ImageID, Void>
    /// The text prompts' KV blocks kept for reuse, in the engine's unit (blocks of
    /// ``KVBlock/defaultTokens``, least recently used evicted first): the same record of chained block
    /// hashes the live front end keeps of each worker's prefix cache.
    var promptBlocks: PrefixCacheIndex
    let launched: Double
    var retired: Double?

    init(id: Int, role: InstanceRole, group: ModalityGroup, phase: Phase, launched: Double, encoderCacheTokens: Int, prefixCacheTokens: Int,
         loraCacheEntries: Int) {
        loras = LRUCache(budget: loraCacheEntries)
        self.id = id
        self.role = role
        self.group = group
        self.phase = phase
        self.launched = launched
        encoderCache = LRUCache(budget: encoderCacheTokens)
        prefixCache = LRUCache(budget: prefixCacheTokens)
        promptBlocks = PrefixCacheIndex(capacityBlocks: prefixCacheTokens / KVBlock.defaultTokens, blockSize: KVBlock.defaultTokens)
    }

    var queuedEncodeJobs: Int { encodeQueue.count }
    var hasWork: Bool {
        busy || queuedEncodeJobs > 0 || !prefillQueue.isEmpty || !prefilling.isEmpty || !running.isEmpty || !waiting.isEmpty
            || !imageQueue.isEmpty || !imageRunning.isEmpty
    }
}

/// Per-request bookkeeping of the engine.
struct SimulatedRequest {
    var info: RequestInfo
    var output: Int
    var shardsLeft = 0
    /// Image tokens to encode on the prefill instance (no separate encoder ran them).
    var inlineTokens = 0
    var inlineImages = 0
    /// Effective prefill tokens after caches and the image-token weight.
    var prefillTokens = 0
    /// Image tokens to prefill (after the prefix cache), weighted; text tokens served from the prefix cache.
    var imagePrefillTokens = 0.0
    var reusedTokens = 0
    /// Prefill tokens already computed under chunked prefill.
    var prefilled = 0
    var decoded = 0
    var joinStep = 0
    var firstToken = -1.0
    var finish = -1.0
    var dropped = false
    /// An image to generate: its denoising steps done, when its LoRAs are loaded, the step they
    /// join at and whether they have, and its CFG-split peer.
    var image: ImageRequestInfo?
    var stepsDone = 0
    var loraReady = 0.0
    var loraActivation = 0
    var loraActive = false
    var guidancePeer: Int?

    var kvTokens: Int { info.promptTokens + output }
    /// The prompt as the batch policy sees it: before text prefix hits, which the live engine learns only at admission.
    var queued: QueuedRequest { QueuedRequest(info, promptTokens: prefillTokens + reusedTokens) }
    /// Output tokens after the first that are still to generate.
    var remaining: Int { output - 1 - decoded }
}
