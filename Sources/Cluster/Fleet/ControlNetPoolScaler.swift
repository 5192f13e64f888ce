/// Sizes the `controlnet` pool of the image workers (Katz/SwiftDiffusion's ControlNet-as-a-Service,
/// arXiv 2407.02031 §4.1, scaled as ModServe scales a stage, arXiv 2502.00937 §5.4): every
/// `interval` seconds the pool is set to `ceil(demand / (capacity × targetUtilization))` workers,
/// within `minimumInstances…maximumInstances`, where demand is the ControlNet seconds per second
/// the window's images ask for (their residual calls, ``ImageRequestInfo/controlNetCalls``, each
/// priced at the profiled `secondsPerCall + secondsPerCallPixel · p + secondsPerCallPixelSquared · p²`
/// for an image of p = width · height pixels: the self-attention's share grows with p²) and one worker
/// supplies one second per second. Launches are counted until they come up, so a slow start is not launched twice; scaling
/// down retires the idlest workers first. Catalog name: `controlnet-scaler`.
///
/// ```swift
/// var scaler = ControlNetPoolScaler(secondsPerCall: 0.05)
/// // 40 calls/s × 0.05 s = 2 s/s of ControlNet work: ceil(2 / 0.8) = 3 workers.
/// scaler.required(load: StageLoad(controlNetCallsPerSecond: 40))   // 3
/// ```
public struct ControlNetPoolScaler: FleetPlanner {
    public var secondsPerCall: Double
    public var secondsPerCallPixel: Double
    public var secondsPerCallPixelSquared: Double
    public var interval: Double
    /// Fraction of a worker's time the pool is loaded to, 0 < u ≤ 1.
    public var targetUtilization: Double
    public var minimumInstances: Int
    public var maximumInstances: Int
    /// The pool size last asked for while launches are still starting.
    private var launching: Int?

    public init(secondsPerCall: Double, secondsPerCallPixel: Double = 0, secondsPerCallPixelSquared: Double = 0, interval: Double = 10,
                targetUtilization: Double = 0.8, minimumInstances: Int = 1, maximumInstances: Int = .max) {
        self.secondsPerCall = secondsPerCall
        self.secondsPerCallPixel = secondsPerCallPixel
        self.secondsPerCallPixelSquared = secondsPerCallPixelSquared
        self.interval = interval
        self.targetUtilization = min(1, max(0.01, targetUtilization))
        self.minimumInstances = minimumInstances
        self.maximumInstances = max(minimumInstances, maximumInstances)
    }

    /// Workers the image pool's ControlNet load needs.
    public func required(load: StageLoad) -> Int {
        let demand = load.controlNetCallsPerSecond * secondsPerCall + load.controlNetCallPixelsPerSecond * secondsPerCallPixel
            + load.controlNetCallPixelsSquaredPerSecond * secondsPerCallPixelSquared
        // Round away float noise so an exact fit does not add a worker.
        let needed = Int((demand / targetUtilization - 1e-9).rounded(.up))
        return min(maximumInstances, max(minimumInstances, needed))
    }

    public mutating func plan(_ cluster: some ClusterView, load: LoadObservation) -> [FleetAction] {
        let pool = cluster.active(role: .controlnet)
        let have = pool.count
        let want = required(load: load.perGroup[.image] ?? StageLoad())
        if let asked = launching, have >= asked { launching = nil }
        let committed = max(have, launching ?? have)
        if want > committed {
            launching = want
            return Array(repeating: .launch(role: .controlnet, group: .image), count: want - committed)
        }
        guard want < have else { return [] }
        launching = nil
        let idleFirst = pool.sorted { ($0.queuedRequests, $0.id) < ($1.queuedRequests, $1.id) }
        return idleFirst.prefix(have - want).map { .retire(instance: $0.id) }
    }
}
