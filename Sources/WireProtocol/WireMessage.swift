import Cluster
import CoreUtilities
import ServingAPI

/// Every message between the front end, workers and their peers.
///
/// Control (front end ↔ worker, one connection per worker): the worker registers, sends heartbeats
/// and each request's events; the front end sends work, aborts and role changes. Transfer (one
/// connection per pair of workers): the decode side pulls a parked KV, or in push mode the prefill
/// side pushes it unasked; either way the receiver confirms once it holds the bytes, which lets
/// the prefill side free its blocks.
public enum WireMessage: Codable, Sendable {
    // Worker → front end.
    case register(WorkerHello)
    case heartbeat(WorkerLoad)
    /// A prefill finished; its KV is parked on the worker under `handle`.
    /// `prompt` is the prompt with image placeholders expanded, which decode continues from;
    /// `imageTimings` where each image's time went on this worker, in prompt order (the decode
    /// worker's finish has none: the images were not its work).
    case prefilled(request: Int, handle: Int, positions: Int, cachedTokens: Int, prompt: [Int], imageSpans: [ImageSpan],
                   imageTimings: [ImageStageTimings])
    case delta(request: Int, TokenDelta)
    case finished(request: Int, FinishInfo)
    case failed(request: Int, EngineError)
    /// The worker's engine admitted `requests` from its waiting queue into one step, in admission
    /// order, beside `running`, and left `waiting` queued, in the queue's order (the batch policy's decision).
    case admitted(requests: [Int], waiting: [Int], running: [Int])
    /// An encode worker holds the request's images' features under these ids; `timings` tells
    /// where each one's time went (preprocessing and encoding happened here, not on the prefill worker).
    case encoded(request: Int, imageIDs: [ImageID], timings: [ImageStageTimings])
    /// The worker finished its in-flight work and now serves `role`.
    case switched(role: InstanceRole)
    /// The worker is stopping (SIGTERM): send it nothing new; it finishes what it has, or hands it
    /// back by closing the connection when its drain timeout runs out.
    case draining
    /// A diffusion worker finished step `step` of `total` of an image; with `preview`, the
    /// latents' low-resolution preview (its RGB pixels as the payload).
    case imageProgress(request: Int, step: Int, total: Int, preview: WireImage? = nil)
    /// The image, its latents and pixels in the payload (see ``WireGeneratedImage``).
    case imageGenerated(request: Int, WireGeneratedImage)
    case imageFailed(request: Int, WireImageError)

    // Front end → worker.
    case generate(request: Int, GenerateJob)
    /// `featureSources` are encode workers holding some of the images' features, to pull instead
    /// of encoding here; the frame's payload holds the pixels of the other images only, in order.
    /// With `pushTo`, the KV goes to that decode worker's transfer endpoint as soon as it is parked
    /// (push hand-off). `sloClass` orders the request in the worker's batch policy. With
    /// `promptLogprobs`, the worker computes the prompt's log-probabilities and sends them as a
    /// `delta` without tokens before `prefilled`.
    case prefill(request: Int, tokens: [Int], images: [WireImage], featureSources: [FeatureSource], pushTo: Endpoint?, sloClass: String?,
                 promptLogprobs: Int? = nil)
    /// Encode these images (pixels in the payload) and keep the features until a prefill worker pulls them.
    case encode(request: Int, images: [WireImage])
    case abort(request: Int)
    /// Frees a parked KV nobody will pull (its decode worker failed or the client left).
    case releaseKV(handle: Int)
    /// Stop admitting, finish in-flight requests, then serve `role`.
    case switchRole(InstanceRole)
    /// Generate one image on a diffusion worker (an init image's pixels in the payload).
    case generateImage(request: Int, WireImageJob)

    // Decode worker → prefill worker.
    case pull(handle: Int, sharedMemory: Bool)
    /// Confirms the bytes arrived; the sender frees the blocks and the shared-memory segment.
    case pulled(handle: Int)

    // Diffusion worker → its CFG-split peer, and the answer.
    /// Run these UNet rows (sample, text conditioning and ControlNet residuals in the payload, LoRAs
    /// by name in the header) and answer `predictedNoise`.
    case predictNoise(call: Int, WireDenoiserRows)
    /// The rows' noise predictions in order, each channels × height × width Float32, as the payload.
    case predictedNoise(call: Int, channels: Int)
    case predictNoiseFailed(call: Int, String)
    /// The image left without its last row (cancelled, failed): the peer forgets it and restores
    /// the weights it merged for it alone.
    case endGuidance(image: Int)

    // Diffusion worker → `controlnet` worker (ControlNet as a service), and the answer.
    case controlResiduals(call: Int, WireControlCall)
    /// The residuals (down ones in order, then the mid one), each height × width × channels as
    /// `shapes` says, channels-last Float32, as the payload.
    case controlResidualsReady(call: Int, shapes: [[Int]])
    case controlResidualsFailed(call: Int, String)

    // Prefill worker → encode worker.
    case pullFeatures(imageIDs: [ImageID], sharedMemory: Bool)
    /// Confirms the features arrived; the encode worker unpins them.
    case pulledFeatures(imageIDs: [ImageID])

    // Encode worker → prefill worker.
    /// The features, in the named shared-memory segment or as this frame's payload; `missing` ids are not held.
    case features(FeaturesHeader)

    // Prefill worker → decode worker.
    /// The parked KV: in the named shared-memory segment, or as this frame's payload.
    case kv(handle: Int, KVHeader)
    case kvMissing(handle: Int)
    /// Push hand-off: the parked KV of `source`, unasked; the receiver keeps it for the request's
    /// generate job and confirms with `pulled`.
    case pushedKV(source: KVSource, KVHeader)

    // Pipeline stage → the next stage of a layer-split model (one connection per pair of stages).
    /// Asks how many KV blocks the rest of the pipeline holds, once, before serving; every stage
    /// indexes its KV by the first stage's blocks, so they must be of one size, and the next
    /// stage's units must start at `nextUnit`, where the asking stage's end.
    case stageHello(blockSize: Int, nextUnit: Int)
    case stageReady(kvBlocks: Int)
    /// One step's hidden states, for the next stage's layers; answered with `stageOutput`.
    case stageForward(StageStep)
    /// The last stage's logits for the step, relayed back stage by stage.
    case stageOutput(StageTensor)
    /// The step failed on a later stage; the pipeline does not serve any more.
    case stageFailed(String)
    /// Asks whether the rest of the pipeline is up while no step runs; answered the same way.
    case stagePing
}

/// What a worker says about itself when it connects.
public struct WorkerHello: Codable, Sendable, Hashable {
    /// The front end's slot for this worker, from its command line; ``unbound`` for a worker started
    /// by a scaled pool (a Kubernetes Deployment), which the front end binds to a pending slot of its
    /// role and group.
    public var slot: Int
    public var role: InstanceRole
    public var processId: Int32
    /// Where peers pull KV from this worker.
    public var transfer: Endpoint
    public var kvLayout: KVLayout
    public var kvCapacityTokens: Int
    /// The text standing for one image in prompts; nil for text-only models.
    public var imagePlaceholder: String?
    /// The prompts the worker's engine admits.
    public var contextLength: Int
    public var vocabularySize: Int
    /// Tokens per KV block of the worker's prefix cache.
    public var blockSize: Int
    /// How the worker's model turns an image's size into prompt tokens; nil for text-only models.
    public var imageTokenRule: ImageTokenRule?
    /// The worker's modality group, for binding an unbound worker.
    public var group: ModalityGroup?
    /// The pod the worker runs in (its name and address from the downward API), when it runs in one.
    public var podName: String?
    public var podAddress: String?
    /// What a diffusion (`image`) worker generates; nil for language-model workers.
    public var imageModel: WireImageModel?
    /// The LoRAs and ControlNets a diffusion (`image` or `controlnet`) worker serves by name.
    public var adapters: WireAdapterNames?

    /// The `slot` of a worker that asks to be bound to a pending slot.
    public static let unbound = -1

    public init(slot: Int, role: InstanceRole, processId: Int32, transfer: Endpoint, kvLayout: KVLayout, kvCapacityTokens: Int,
                imagePlaceholder: String?, limits: PromptLimits, blockSize: Int = KVBlock.defaultTokens, imageTokenRule: ImageTokenRule? = nil) {
        self.slot = slot
        self.role = role
        self.processId = processId
        self.transfer = transfer
        self.kvLayout = kvLayout
        self.kvCapacityTokens = kvCapacityTokens
        self.imagePlaceholder = imagePlaceholder
        contextLength = limits.contextLength
        vocabularySize = limits.vocabSize
        self.blockSize = blockSize
        self.imageTokenRule = imageTokenRule
    }
}

/// A worker's load and counters, sent with every heartbeat.
public struct WorkerLoad: Codable, Sendable, Hashable {
    public var role: InstanceRole
    public var running = 0
    public var waiting = 0
    /// Prompt tokens admitted and not yet through prefill.
    public var pendingPrefillTokens = 0
    public var kvUsedTokens = 0
    public var parkedKV = 0
    /// KV bytes this worker sent (prefill) and received (decode) over all transfers.
    public var kvBytesSent = 0
    public var kvBytesReceived = 0
    /// Seconds decode-side pulls took, summed.
    public var kvTransferSeconds = 0.0
    public var kvTransfers = 0
    public var statistics: EngineStatistics
    /// A diffusion worker's engine statistics (its queues, UNet calls, LoRA merges, add-on caches,
    /// loop seconds by phase); a `controlnet` worker's resident ControlNets as its `controlNetCache`.
    public var images = ImageEngineStatistics()
    /// UNet rows this diffusion worker ran for CFG-split peers.
    public var guidanceRowsServed = 0
    /// A `controlnet` worker's residual calls answered.
    public var controlNetCalls = 0
    /// The LoRA names in a diffusion worker's adapter cache, which adapter-affine routing reads.
    public var cachedLoRAs: [String] = []

    public init(role: InstanceRole, statistics: EngineStatistics) {
        self.role = role
        self.statistics = statistics
    }
}

/// A decode or monolithic request, tokenized by the front end.
public struct GenerateJob: Codable, Sendable {
    /// Token ids; with `kvSource`, image placeholders already expanded (as `prefilled` reported them).
    public var prompt: [Int]
    public var parameters: SamplingParameters
    /// Where the prompt's KV was prefilled; nil to compute it here.
    public var kvSource: KVSource?
    /// Images to encode here (mono), their pixels in the frame's payload.
    public var images: [WireImage]
    /// The expanded prompt's image spans (decode), so the prefix cache tells images apart.
    public var imageSpans: [ImageSpan]
    /// The prefill worker pushes `kvSource`'s KV here instead of waiting for a pull.
    public var kvPushed: Bool
    /// The request's latency class, for the worker's batch policy; nil is the worker's default class.
    public var sloClass: String?

    public init(prompt: [Int], parameters: SamplingParameters, kvSource: KVSource?, images: [WireImage] = [],
                imageSpans: [ImageSpan] = [], kvPushed: Bool = false, sloClass: String? = nil) {
        self.prompt = prompt
        self.parameters = parameters
        self.kvSource = kvSource
        self.images = images
        self.imageSpans = imageSpans
        self.kvPushed = kvPushed
        self.sloClass = sloClass
    }
}

/// A parked KV on a prefill worker.
public struct KVSource: Codable, Sendable, Hashable {
    public var endpoint: Endpoint
    public var handle: Int

    public init(endpoint: Endpoint, handle: Int) {
        self.endpoint = endpoint
        self.handle = handle
    }
}

/// Describes KV bytes in the flat transfer layout (`PagedKVCache.copyOut`).
public struct KVHeader: Codable, Sendable, Hashable {
    public var layout: KVLayout
    public var positions: Int
    public var byteCount: Int
    /// The POSIX shared-memory name holding the bytes; nil when they are the frame's payload.
    public var sharedMemoryName: String?
    /// The prompt's M-RoPE position offset (`KVBuffer.mropeDelta`); nil for 1-D positions.
    public var mropeDelta: Int?

    public init(layout: KVLayout, positions: Int, byteCount: Int, sharedMemoryName: String?, mropeDelta: Int? = nil) {
        self.layout = layout
        self.positions = positions
        self.byteCount = byteCount
        self.sharedMemoryName = sharedMemoryName
        self.mropeDelta = mropeDelta
    }
}

/// Encode workers' features a prefill worker pulls.
public struct FeatureSource: Codable, Sendable, Hashable {
    public var endpoint: Endpoint
    public var imageIDs: [ImageID]

    public init(endpoint: Endpoint, imageIDs: [ImageID]) {
        self.endpoint = endpoint
        self.imageIDs = imageIDs
    }
}

/// Describes encoder outputs in a transfer: each image's rows × cols floats, concatenated in order.
public struct FeaturesHeader: Codable, Sendable, Hashable {
    public struct Item: Codable, Sendable, Hashable {
        public var imageID: ImageID
        public var rows: Int
        public var cols: Int

        public init(imageID: ImageID, rows: Int, cols: Int) {
            self.imageID = imageID
            self.rows = rows
            self.cols = cols
        }
    }

    public var items: [Item]
    public var missing: [ImageID]
    public var byteCount: Int
    public var sharedMemoryName: String?

    public init(items: [Item], missing: [ImageID], byteCount: Int, sharedMemoryName: String?) {
        self.items = items
        self.missing = missing
        self.byteCount = byteCount
        self.sharedMemoryName = sharedMemoryName
    }
}

/// A float matrix between pipeline stages: in the named shared-memory segment, or as the frame's payload.
public struct StageTensor: Codable, Sendable, Hashable {
    public var rows: Int
    public var cols: Int
    public var sharedMemoryName: String?

    public init(rows: Int, cols: Int, sharedMemoryName: String?) {
        self.rows = rows
        self.cols = cols
        self.sharedMemoryName = sharedMemoryName
    }

    public var byteCount: Int { rows * cols * MemoryLayout<Float>.size }
}

/// One engine step as a later pipeline stage runs it: the batch's sequences (positions, block
/// tables, which rows want logits) as the first stage scheduled them, the partial-block copies to
/// repeat in this stage's KV, and the hidden states (one row per batch token).
public struct StageStep: Codable, Sendable {
    public struct Sequence: Codable, Sendable, Hashable {
        public var tokens: [Int]
        public var start: Int
        public var blockTable: [Int]
        public var wantsLogits: Bool
        public var allLogits: Bool
        /// Qwen2-VL's M-RoPE positions of the prompt (`[temporal, height, width]`) and their delta.
        public var mropeAxes: [[Int]]?
        public var mropeDelta: Int?

        public init(tokens: [Int], start: Int, blockTable: [Int], wantsLogits: Bool, allLogits: Bool, mropeAxes: [[Int]]?, mropeDelta: Int?) {
            self.tokens = tokens
            self.start = start
            self.blockTable = blockTable
            self.wantsLogits = wantsLogits
            self.allLogits = allLogits
            self.mropeAxes = mropeAxes
            self.mropeDelta = mropeDelta
        }
    }

    public var sequences: [Sequence]
    public var copies: [BlockCopy]
    public var hidden: StageTensor

    public init(sequences: [Sequence], copies: [BlockCopy], hidden: StageTensor) {
        self.sequences = sequences
        self.copies = copies
        self.hidden = hidden
    }
}
