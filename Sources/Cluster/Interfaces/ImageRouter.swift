/// Where one image is generated: its diffusion worker and, with a CFG split (Katz/SwiftDiffusion
/// latent parallelism, arXiv 2407.02031 §4.3), the worker that runs its unconditional UNet rows.
public struct ImageRoute: Sendable, Hashable, CustomStringConvertible {
    public var worker: Int
    public var guidancePeer: Int?

    public init(worker: Int, guidancePeer: Int? = nil) {
        self.worker = worker
        self.guidancePeer = guidancePeer
    }

    public var description: String { "\(worker)" + (guidancePeer.map { " (guidance on \($0))" } ?? "") }
}

/// Where the image router sent one image, as both executors record it (a replay test compares them).
public struct ImageRoutingDecision: Sendable, Hashable, CustomStringConvertible {
    public var request: Int
    public var route: ImageRoute

    public init(request: Int, route: ImageRoute) {
        self.request = request
        self.route = route
    }

    public var description: String { "image \(request) → \(route)" }
}

/// Chooses the diffusion worker of an image.
///
/// `candidates` are the active `image` workers (``ClusterView/imageWorkers``); the caller filters
/// them so routers stay free of deployment rules. The live front end and the simulator call the
/// same router object, built by ``PolicyCatalog/imageRouter(_:)``.
public protocol ImageRouter: Sendable {
    /// One of `candidates` (and with `splitGuidance` a second one for the unconditional rows, when
    /// there is one), or nil when `candidates` is empty.
    func route(_ image: ImageRequestInfo, candidates: [Int], splitGuidance: Bool, in cluster: some ClusterView) -> ImageRoute?
}

extension ClusterView {
    /// The active diffusion workers: the one candidate filter of image routing.
    public var imageWorkers: [Int] {
        instances.filter { $0.isActive && $0.role == .image }.map(\.id)
    }

    /// The candidate with the fewest images queued or running, lowest id on ties; `excluding` one.
    func fewestQueued(_ candidates: [Int], excluding: Int? = nil) -> Int? {
        let all = instances
        return candidates.filter { $0 != excluding }.min { (all[$0].queuedRequests, $0) < (all[$1].queuedRequests, $1) }
    }
}
