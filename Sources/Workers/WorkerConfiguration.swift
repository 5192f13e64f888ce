import Cluster
import Engine
import Foundation
import Models
import WireProtocol

/// How a worker process runs: its role, model, engine limits, and where it talks to the front end
/// and to its peers.
public struct WorkerConfiguration: Sendable {
    public var role: InstanceRole
    /// The front end's slot number for this worker; `WorkerHello.unbound` asks the front end to bind
    /// it to a pending slot of its role and `group`.
    public var slot: Int
    public var group: ModalityGroup?
    /// The pod this worker runs in (downward API), reported at registration.
    public var podName: String?
    public var podAddress: String?
    public var modelDirectory: URL
    public var engine: EngineConfig
    /// The front end's control endpoint.
    public var frontEnd: Endpoint
    /// Where to listen for KV pulls (`tcp:HOST:0` picks a port).
    public var transfer: Endpoint
    /// Use shared memory for KV between workers on this host (Unix-socket transfer endpoints).
    public var sharedMemory = true
    public var heartbeatInterval: Duration = .milliseconds(200)
    /// Parked KV that no decode worker pulled within this many seconds is freed.
    public var parkedKVTimeout = 60.0
    /// The first stage of a layer-split model: this worker runs `units` of it and hands each step
    /// to the stage listening at `next` (a mono worker only).
    public var pipeline: (units: DecoderSlice, next: Endpoint)?
    /// How long the first stage waits for the next one to answer.
    public var pipelineTimeout: Duration = .seconds(180)

    /// What the worker loads of its model (EPD §3): an encode worker only the vision encoder (no
    /// language model or KV cache); prefill and decode workers the language model, a prefill worker
    /// loading the vision encoder only if an image reaches it unencoded; a mono worker everything.
    public var modelParts: ModelParts {
        switch role {
        case .encode: .visionEncoder
        case .prefill, .decode: .languageModel
        case .mono, .encodePrefill: .all
        // An image worker loads a diffusion pipeline instead (`ImageWorker`), no language model.
        case .image, .controlnet: []
        }
    }

    public init(role: InstanceRole, slot: Int, modelDirectory: URL, engine: EngineConfig, frontEnd: Endpoint, transfer: Endpoint) {
        self.role = role
        self.slot = slot
        self.modelDirectory = modelDirectory
        self.engine = engine
        self.frontEnd = frontEnd
        self.transfer = transfer
    }
}

/// Why a worker could not start or serve.
public enum WorkerError: Error, CustomStringConvertible {
    case unsupportedRole(InstanceRole)
    case registrationFailed(String)
    case pipelineNeedsMono(InstanceRole)

    public var description: String {
        switch self {
        case let .unsupportedRole(role): "role '\(role.rawValue)' is not a worker role; use encode, prefill, decode or mono"
        case let .registrationFailed(detail): "could not register with the front end: \(detail)"
        case let .pipelineNeedsMono(role): "a pipeline's first stage serves whole requests (mono), not \(role.rawValue)"
        }
    }
}
