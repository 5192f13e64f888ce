/// Picks the diffusion worker for an image: the active `image` worker with the fewest images
/// queued or running (lowest id on ties). With a CFG split (Katz/SwiftDiffusion latent
/// parallelism, arXiv 2407.02031 §4.3) the image's unconditional UNet passes run on a second
/// worker, the least loaded of the others, which therefore counts the image too.
/// Catalog name: `least-queued-images` (the default `imageRouter`).
///
/// ```swift
/// let route = DiffusionRouter().route(image, candidates: view.imageWorkers, splitGuidance: true, in: view)   // worker 2, peer 0
/// ```
public struct DiffusionRouter: ImageRouter {
    public init() {}

    /// A split asks for a peer; with a single candidate the image runs whole on it.
    public func route(_ image: ImageRequestInfo, candidates: [Int], splitGuidance: Bool, in cluster: some ClusterView) -> ImageRoute? {
        guard let worker = cluster.fewestQueued(candidates) else { return nil }
        return ImageRoute(worker: worker, guidancePeer: splitGuidance ? cluster.fewestQueued(candidates, excluding: worker) : nil)
    }
}
