import Cluster
import Foundation

/// What the front end needs besides the topology: the model, admission limits, and how to start workers.
public struct FrontEndOptions: Sendable {
    public var modelDirectory: URL
    /// The name the API reports; nil uses the model folder's name.
    public var servedModelName: String?
    public var maxModelLength: Int?
    /// Requests admitted and still waiting for their first token before new ones get `overloaded`.
    public var maxQueuedRequests = 256
    public var maxQueuedTokens = 1 << 20
    /// Arguments every `tessera worker` gets after the ones the front end sets (KV memory, threads…).
    public var workerArguments: [String] = []
    /// The diffusers folder the `image` pool's workers serve, and the arguments only they get (batch size, queue, limits).
    public var imageModelDirectory: URL?
    public var imageWorkerArguments: [String] = []
    /// What `controlnet` workers get: their ControlNets (`--controlnet NAME=DIR`…) and memory budget.
    public var controlNetWorkerArguments: [String] = []
    /// Where Unix sockets (and worker logs) go.
    public var runtimeDirectory: URL
    /// Delete `runtimeDirectory` (worker logs included) once shut down.
    public var removeRuntimeDirectory = false
    public var startupTimeout: Duration = .seconds(180)
    /// How long a request waits for some worker to serve it (all restarting) before failing.
    public var routeTimeout: Duration = .seconds(30)
    /// Called with every routing decision as it is taken (request ids count from 0 in submission
    /// order), in the simulator's terms: what replaying a trace through both executors compares.
    public var onRoutingDecision: (@Sendable (RoutingDecision) -> Void)?
    /// Called with every batching decision a language-model worker's scheduler takes (its slot as
    /// the instance, the same request ids), in the simulator's terms.
    public var onBatchDecision: (@Sendable (BatchDecision) -> Void)?
    /// Called with every image's route as it is taken (the image router's decision).
    public var onImageRoute: (@Sendable (ImageRoutingDecision) -> Void)?
    /// The latency classes requests may name (the workers get the same), checked before admission.
    public var sloClasses = SLOClasses.standard
    /// The model's placement units (`PipelineStage.placementUnits(directory:)`), which a topology
    /// with a `pipeline` worker splits over its stages.
    public var placementUnits: [LayerPlacement.Layer]?
    /// UELLM's output-length predictor (the workers load the same): the policies and planners see
    /// each request's predicted output tokens, capped at its `max_tokens`, instead of `max_tokens`.
    public var outputLengthPredictor: OutputLengthPredictor?

    public init(modelDirectory: URL, runtimeDirectory: URL) {
        self.modelDirectory = modelDirectory
        self.runtimeDirectory = runtimeDirectory
    }
}
