import Foundation
import ServingAPI

/// One image of an image generation request as the front end sends it to a diffusion worker
/// (`generateImage`): the request's ``ImageGenerationParameters`` (read as the job's own fields,
/// `job.prompt`), its scheduler by name, and the add-ons the request names. The frame's payload
/// holds the RGB pixels of the init image and then of each ControlNet's control image, in order.
@dynamicMemberLookup
public struct WireImageJob: Codable, Sendable, Hashable {
    public var parameters: ImageGenerationParameters
    /// A `SchedulerKind` raw value; nil for the model folder's own scheduler.
    public var scheduler: String?
    /// `use_karras_sigmas` over the folder's scheduler config; nil: the config's.
    public var useKarrasSigmas: Bool?
    /// A `TimestepSpacing` raw value over the folder's scheduler config; nil: the config's.
    public var timestepSpacing: String?
    public var initImage: WireImage?
    /// CFG split (latent parallelism): the diffusion worker whose UNet predicts this image's
    /// unconditional rows each step, at its transfer endpoint; nil runs both rows here.
    public var guidancePeer: Endpoint?
    /// Registered LoRAs by name (the worker's `--lora`/`--adapter-dir`), applied together.
    public var loras: [LoRAUse]?
    /// Registered ControlNets by name with their control images (a MultiControlNet when several).
    public var controlNets: [WireControlNetUse]?
    /// The `controlnet` worker (its transfer endpoint) that runs `controlNets` each step; nil runs
    /// them in the diffusion worker, from its own registry.
    public var controlNetService: Endpoint?
    /// Every this many steps the progress message carries a latent preview; nil: none.
    public var previewInterval: Int?
    /// OpenAI's `partial_images`: previews at this many steps spread over the image's; nil: none.
    public var partialImages: Int?

    public init(_ parameters: ImageGenerationParameters, scheduler: String?, initImage: WireImage? = nil, guidancePeer: Endpoint? = nil) {
        self.parameters = parameters
        self.scheduler = scheduler
        self.initImage = initImage
        self.guidancePeer = guidancePeer
    }

    public subscript<Value>(dynamicMember field: WritableKeyPath<ImageGenerationParameters, Value>) -> Value {
        get { parameters[keyPath: field] }
        set { parameters[keyPath: field] = newValue }
    }
}

/// A ControlNet an image names: its scale, its `start`/`end` window (fractions of the steps) and
/// its control image (pixels in the job's payload).
public struct WireControlNetUse: Codable, Sendable, Hashable {
    public var name: String
    public var scale: Float
    public var start: Float
    public var end: Float
    public var image: WireImage

    public init(name: String, scale: Float, start: Float, end: Float, image: WireImage) {
        self.name = name
        self.scale = scale
        self.start = start
        self.end = end
        self.image = image
    }
}

/// The add-ons a diffusion worker serves by name, said at registration: an `image` worker's
/// LoRAs and in-process ControlNets, a `controlnet` worker's ControlNets.
public struct WireAdapterNames: Codable, Sendable, Hashable {
    public var loras: [String]
    public var controlNets: [String]

    public init(loras: [String] = [], controlNets: [String] = []) {
        self.loras = loras
        self.controlNets = controlNets
    }
}

/// A generated image (`imageGenerated`); the frame's payload holds its final latents and then its
/// height × width × 3 float image in [0, 1], as little-endian Float32.
public struct WireGeneratedImage: Codable, Sendable, Hashable {
    public var width: Int
    public var height: Int
    public var latentShape: [Int]
    /// Where the image's time went on the worker: its queue, seconds per step, LoRA load, wait and
    /// merge, ControlNets (the front end's `/metrics` records them as a single process does).
    public var timing: ImageTiming

    public init(width: Int, height: Int, latentShape: [Int], timing: ImageTiming) {
        self.width = width
        self.height = height
        self.latentShape = latentShape
        self.timing = timing
    }
}

/// Why a diffusion worker refused or failed an image (the engine's `ImageGenerationError`).
public enum WireImageError: Codable, Sendable, Hashable, Error {
    case overloaded(retryAfterSeconds: Int)
    case invalidRequest(message: String, param: String?)
    case adapterNotFound(message: String, param: String?)
    case shuttingDown
    case failed(String)
}

/// What a diffusion worker serves, said at registration.
public struct WireImageModel: Codable, Sendable, Hashable {
    /// The model's default side in pixels.
    public var defaultSize: Int
    /// Image sides must be multiples of this.
    public var sizeMultiple: Int
    /// Pixels per latent position (an init image's size is rounded down to it).
    public var vaeScaleFactor: Int
    public var maxSteps: Int
    public var maxPixels: Int
    /// Images the worker always takes: its queue (in a burst all of them wait before a step
    /// boundary moves some into the batch). The front end admits no more than its workers' sum.
    public var maxQueuedImages: Int
    /// An SDXL model (a second text encoder): it takes `prompt_2` / `negative_prompt_2`.
    public var secondTextEncoder: Bool
    /// The pipeline's `guidance_scale` for requests that give none (diffusers': 5 for SDXL, 7.5 for SD 1.x/2.x).
    public var defaultGuidanceScale: Float
    /// The `SchedulerKind` raw value of the folder's scheduler, which requests without `scheduler` run.
    public var scheduler: String

    public init(defaultSize: Int, sizeMultiple: Int, vaeScaleFactor: Int, maxSteps: Int, maxPixels: Int, maxQueuedImages: Int,
                secondTextEncoder: Bool, defaultGuidanceScale: Float, scheduler: String) {
        self.defaultSize = defaultSize
        self.sizeMultiple = sizeMultiple
        self.vaeScaleFactor = vaeScaleFactor
        self.maxSteps = maxSteps
        self.maxPixels = maxPixels
        self.maxQueuedImages = maxQueuedImages
        self.secondTextEncoder = secondTextEncoder
        self.defaultGuidanceScale = defaultGuidanceScale
        self.scheduler = scheduler
    }
}

/// UNet rows one diffusion worker asks a peer to run (`predictNoise`: the unconditional rows of a
/// CFG split). Per row the payload holds the sample (channels × height × width), the text
/// conditioning (tokens × width) and its ControlNet residuals (each height × width × channels),
/// Float32.
public struct WireDenoiserRows: Codable, Sendable, Hashable {
    /// How a row takes its image's LoRAs.
    public enum LoRAApplication: String, Codable, Sendable, Hashable {
        /// Low-rank, on this row only (the leader's batch mixes LoRAs).
        case unmerged
        /// Merged into the UNet's weights (the leader's batch shares them).
        case merged
    }

    public struct Row: Codable, Sendable, Hashable {
        public var channels: Int
        public var height: Int
        public var width: Int
        public var timestep: Float
        public var tokens: Int
        public var hiddenWidth: Int
        /// SDXL's added conditioning.
        public var textEmbeds: [Float]?
        public var timeIds: [Float]?
        /// The image's LoRAs by the names the workers registered: the peer loads them from the
        /// first row on (bounded asynchronous loading on both workers) and applies them as
        /// `loraApplication` says; nil: none.
        public var loras: [LoRAUse]?
        /// nil: not yet (the steps before the leader's LoRA activation step run without them).
        public var loraApplication: LoRAApplication?
        /// Shapes (height, width, channels) of the row's summed ControlNet residuals, the down
        /// blocks' then the mid block's; nil: no ControlNet acts at this step.
        public var residualShapes: [[Int]]?
        /// The image's last step: the peer forgets the image after it (and restores the weights it
        /// merged for it alone).
        public var isLast: Bool?
        /// The leader's number for the row's image on this connection (``WireMessage/endGuidance(image:)``).
        public var image: Int?

        public init(channels: Int, height: Int, width: Int, timestep: Float, tokens: Int, hiddenWidth: Int,
                    textEmbeds: [Float]? = nil, timeIds: [Float]? = nil) {
            self.channels = channels
            self.height = height
            self.width = width
            self.timestep = timestep
            self.tokens = tokens
            self.hiddenWidth = hiddenWidth
            self.textEmbeds = textEmbeds
            self.timeIds = timeIds
        }

        /// Float counts of this row's arrays in the payload: the sample, the text conditioning,
        /// each residual.
        public var floatCounts: [Int] {
            [channels * height * width, tokens * hiddenWidth] + (residualShapes ?? []).map { $0.reduce(1, *) }
        }
    }

    public var rows: [Row]

    public init(rows: [Row]) { self.rows = rows }
}

/// Float32 arrays in a frame's payload.
public enum WireFloats {
    public static func pack(_ arrays: [[Float]]) -> Data {
        var data = Data(capacity: arrays.reduce(0) { $0 + $1.count } * 4)
        for array in arrays { array.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }

    /// Splits `payload` into arrays of `counts` floats; throws when the sizes do not add up.
    public static func unpack(_ payload: Data, counts: [Int]) throws(TransportError) -> [[Float]] {
        guard counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) * 4 == payload.count else {
            throw .malformedMessage("a payload of \(payload.count) bytes does not hold \(counts) floats")
        }
        var offset = payload.startIndex
        return counts.map { count in
            defer { offset += count * 4 }
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                _ = payload[offset ..< offset + count * 4].copyBytes(to: buffer)
                initialized = count
            }
        }
    }
}

/// One ControlNet's residuals a diffusion worker asks a `controlnet` worker for
/// (`controlResiduals`): the named ControlNet, its scale at this step, and the row. The payload holds
/// the sample (channels × height × width), the text conditioning (tokens × width) and the control
/// image (imageHeight × imageWidth × 3, channels-last, in [0, 1]), Float32.
public struct WireControlCall: Codable, Sendable, Hashable {
    public var controlNet: String
    public var scale: Float
    public var row: WireDenoiserRows.Row
    public var imageHeight: Int
    public var imageWidth: Int

    public init(controlNet: String, scale: Float, row: WireDenoiserRows.Row, imageHeight: Int, imageWidth: Int) {
        self.controlNet = controlNet
        self.scale = scale
        self.row = row
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
    }
}
