/// A value snapshot of one serving instance: the load and placement facts policies decide on.
public struct InstanceStatus: Sendable, Hashable {
    /// Stable index of the instance in ``ClusterView/instances``.
    public var id: Int
    public var role: InstanceRole
    public var group: ModalityGroup
    /// False while the instance starts up, switches role, or drains before retirement.
    public var isActive: Bool
    /// Requests waiting or running on the instance.
    public var queuedRequests: Int
    /// Image tokens queued for encoding and not yet encoded.
    public var pendingImageTokens: Int
    /// Prompt tokens queued for prefill.
    public var pendingPrefillTokens: Int
    /// Sequences in the decode batch.
    public var runningDecodes: Int
    /// Predicted output tokens still to generate by the running sequences.
    public var predictedDecodeTokens: Int
    public var kvUsedTokens: Int
    public var kvCapacityTokens: Int

    public init(
        id: Int, role: InstanceRole, group: ModalityGroup, isActive: Bool = true,
        queuedRequests: Int = 0, pendingImageTokens: Int = 0, pendingPrefillTokens: Int = 0,
        runningDecodes: Int = 0, predictedDecodeTokens: Int = 0, kvUsedTokens: Int = 0, kvCapacityTokens: Int = 1
    ) {
        self.id = id
        self.role = role
        self.group = group
        self.isActive = isActive
        self.queuedRequests = queuedRequests
        self.pendingImageTokens = pendingImageTokens
        self.pendingPrefillTokens = pendingPrefillTokens
        self.runningDecodes = runningDecodes
        self.predictedDecodeTokens = predictedDecodeTokens
        self.kvUsedTokens = kvUsedTokens
        self.kvCapacityTokens = kvCapacityTokens
    }

    /// True when nothing is queued or running.
    public var isIdle: Bool { queuedRequests == 0 && runningDecodes == 0 }

    /// Fraction of the KV cache in use, 0...1.
    public var kvUtilization: Double { Double(kvUsedTokens) / Double(max(kvCapacityTokens, 1)) }
}
