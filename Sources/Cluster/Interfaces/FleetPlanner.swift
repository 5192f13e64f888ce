/// A change to the fleet requested by a planner. The executor (simulator or live front end)
/// drains the instance, applies the change after the role-switch or start-up delay, and counts it
/// as one reconfiguration.
public enum FleetAction: Sendable, Hashable {
    /// Change what an instance runs, keeping its group.
    case switchRole(instance: Int, to: InstanceRole)
    /// Move an instance to another modality group, with the role it takes there.
    case moveGroup(instance: Int, to: ModalityGroup, role: InstanceRole)
    /// Start a new instance.
    case launch(role: InstanceRole, group: ModalityGroup)
    /// Drain and stop an instance.
    case retire(instance: Int)
}

/// Offered load observed over the last planning window, per stage, in units per second.
public struct StageLoad: Sendable, Hashable, Codable {
    public var requestsPerSecond: Double
    public var imageTokensPerSecond: Double
    public var prefillTokensPerSecond: Double
    public var decodeTokensPerSecond: Double
    /// Image generation: ControlNet residual calls demanded (``ImageRequestInfo/controlNetCalls``).
    public var controlNetCallsPerSecond: Double
    /// Those calls weighted by their images' pixels (``ImageRequestInfo/controlNetCallPixels``).
    public var controlNetCallPixelsPerSecond: Double
    /// And by their pixels squared (``ImageRequestInfo/controlNetCallPixelsSquared``).
    public var controlNetCallPixelsSquaredPerSecond: Double

    public init(requestsPerSecond: Double = 0, imageTokensPerSecond: Double = 0, prefillTokensPerSecond: Double = 0, decodeTokensPerSecond: Double = 0,
                controlNetCallsPerSecond: Double = 0, controlNetCallPixelsPerSecond: Double = 0, controlNetCallPixelsSquaredPerSecond: Double = 0) {
        self.controlNetCallPixelsPerSecond = controlNetCallPixelsPerSecond
        self.controlNetCallPixelsSquaredPerSecond = controlNetCallPixelsSquaredPerSecond
        self.requestsPerSecond = requestsPerSecond
        self.imageTokensPerSecond = imageTokensPerSecond
        self.prefillTokensPerSecond = prefillTokensPerSecond
        self.decodeTokensPerSecond = decodeTokensPerSecond
        self.controlNetCallsPerSecond = controlNetCallsPerSecond
    }

    /// Load of one stage in its natural unit.
    public func rate(of stage: Stage) -> Double {
        switch stage {
        case .encode: imageTokensPerSecond
        case .prefill: prefillTokensPerSecond
        case .decode: decodeTokensPerSecond
        }
    }
}

/// What a planner observes besides the instantaneous cluster state.
public struct LoadObservation: Sendable, Hashable {
    /// Length of the window the rates were measured over, seconds.
    public var window: Double
    public var perGroup: [ModalityGroup: StageLoad]
    /// Fraction of requests finished in the window that met their SLO; nil when none finished.
    public var sloAttainment: Double?

    public init(window: Double, perGroup: [ModalityGroup: StageLoad], sloAttainment: Double? = nil) {
        self.window = window
        self.perGroup = perGroup
        self.sloAttainment = sloAttainment
    }

    /// Load summed over groups.
    public var total: StageLoad {
        perGroup.values.reduce(into: StageLoad()) {
            $0.requestsPerSecond += $1.requestsPerSecond
            $0.imageTokensPerSecond += $1.imageTokensPerSecond
            $0.prefillTokensPerSecond += $1.prefillTokensPerSecond
            $0.decodeTokensPerSecond += $1.decodeTokensPerSecond
            $0.controlNetCallsPerSecond += $1.controlNetCallsPerSecond
            $0.controlNetCallPixelsPerSecond += $1.controlNetCallPixelsPerSecond
            $0.controlNetCallPixelsSquaredPerSecond += $1.controlNetCallPixelsSquaredPerSecond
        }
    }
}

/// Profiled throughput of one instance while meeting the SLO (ModServe's "MC"), per stage, plus
/// the timings the gain–cost tests need. Comes from the cost model or a profile.
public struct InstanceCapacity: Sendable, Hashable, Codable {
    public var encodeTokensPerSecond: Double
    public var prefillTokensPerSecond: Double
    public var decodeTokensPerSecond: Double
    /// Whole requests per second a monolithic instance sustains at the reference request mix.
    public var requestsPerSecond: Double
    /// Seconds to move one token of KV cache between instances.
    public var kvTransferSecondsPerToken: Double
    /// Decode step latency: `decodeStepSeconds + decodeStepSecondsPerSequence × batch`.
    public var decodeStepSeconds: Double
    public var decodeStepSecondsPerSequence: Double
    /// Seconds of one ControlNet residual call of one UNet row of a `width`×`height` image of p pixels:
    /// `controlNetSecondsPerCall + controlNetSecondsPerCallPixel · p + controlNetSecondsPerCallPixelSquared · p²`
    /// (a cost model's `diffusion` section); nil where no diffusion model was profiled.
    public var controlNetSecondsPerCall: Double?
    public var controlNetSecondsPerCallPixel: Double?
    public var controlNetSecondsPerCallPixelSquared: Double?

    public init(encodeTokensPerSecond: Double, prefillTokensPerSecond: Double, decodeTokensPerSecond: Double,
                requestsPerSecond: Double, kvTransferSecondsPerToken: Double, decodeStepSeconds: Double, decodeStepSecondsPerSequence: Double,
                controlNetSecondsPerCall: Double? = nil, controlNetSecondsPerCallPixel: Double? = nil,
                controlNetSecondsPerCallPixelSquared: Double? = nil) {
        self.controlNetSecondsPerCall = controlNetSecondsPerCall
        self.controlNetSecondsPerCallPixel = controlNetSecondsPerCallPixel
        self.controlNetSecondsPerCallPixelSquared = controlNetSecondsPerCallPixelSquared
        self.encodeTokensPerSecond = encodeTokensPerSecond
        self.prefillTokensPerSecond = prefillTokensPerSecond
        self.decodeTokensPerSecond = decodeTokensPerSecond
        self.requestsPerSecond = requestsPerSecond
        self.kvTransferSecondsPerToken = kvTransferSecondsPerToken
        self.decodeStepSeconds = decodeStepSeconds
        self.decodeStepSecondsPerSequence = decodeStepSecondsPerSequence
    }

    /// Throughput of a stage in its natural unit.
    public func rate(of stage: Stage) -> Double {
        switch stage {
        case .encode: encodeTokensPerSecond
        case .prefill: prefillTokensPerSecond
        case .decode: decodeTokensPerSecond
        }
    }
}

/// Changes the fleet's shape over time: group sizes, stage partitions, instance counts.
///
/// The executor calls ``plan(_:load:)`` every ``interval`` seconds of cluster time and applies the
/// returned actions. Planners may keep history, hence `mutating`.
public protocol FleetPlanner: Sendable {
    var interval: Double { get }
    mutating func plan(_ cluster: some ClusterView, load: LoadObservation) -> [FleetAction]
}

extension ClusterView {
    /// Active instances of a group with a given role.
    public func active(group: ModalityGroup? = nil, role: InstanceRole? = nil) -> [InstanceStatus] {
        instances.filter { $0.isActive && (group == nil || $0.group == group) && (role == nil || $0.role == role) }
    }
}
