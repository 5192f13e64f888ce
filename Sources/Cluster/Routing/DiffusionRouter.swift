/// Picks the diffusion worker for an image: the active `image` worker with the fewest images
/// queued or running (lowest id on ties). With a CFG split (Katz/SwiftDiffusion latent
/// parallelism, arXiv 2407.02031 §4.3) the image's unconditional UNet passes run on a second
/// worker, the least loaded of the others, which therefore counts the image too.
///
/// ```swift
/// let route = DiffusionRouter().route(cluster.active(group: .image), splitGuidance: true)   // (worker: 2, guidancePeer: 0)
/// ```
public struct DiffusionRouter: Sendable {
    public init() {}

    /// `candidates`: the image pool's instances (inactive ones are skipped); nil when none is active.
    /// A split asks for a peer; with a single active worker the image runs whole on it.
    public func route(_ candidates: [InstanceStatus], splitGuidance: Bool) -> (worker: Int, guidancePeer: Int?)? {
        let ranked = candidates.filter { $0.isActive && $0.role == .image }
            .sorted { ($0.queuedRequests, $0.id) < ($1.queuedRequests, $1.id) }
        guard let first = ranked.first else { return nil }
        return (first.id, splitGuidance ? ranked.dropFirst().first?.id : nil)
    }
}
