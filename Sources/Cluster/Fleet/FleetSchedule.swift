/// When each fleet planner runs and the load it sees: every planner on its own interval, over its
/// own window of the load since its previous round (ElasticMM's partitioner every few seconds,
/// ModServe's autoscaler every minute over a longer evaluation). The live front end and the
/// simulator drive this one schedule; they differ only in their clocks.
///
/// ```swift
/// var schedule = FleetSchedule(planners: planners, start: 0)
/// schedule.arrived(info)                                   // every window counts the request
/// schedule.finished(info, ttft: 0.4, tpot: 0.05, outputTokens: 12)
/// while let (p, time) = schedule.next, time <= now { actions += schedule.run(p, at: time, on: view) }
/// ```
public struct FleetSchedule: Sendable {
    public private(set) var planners: [any FleetPlanner]
    private var windows: [LoadWindow]
    /// When each planner's next round is due.
    public private(set) var due: [Double]

    public init(planners: [any FleetPlanner], start: Double) {
        self.planners = planners
        windows = Array(repeating: LoadWindow(start: start), count: planners.count)
        due = planners.map { start + $0.interval }
    }

    /// The planner due first and when (the lowest index among equals); nil without planners.
    public var next: (planner: Int, time: Double)? {
        due.indices.min { due[$0] < due[$1] }.map { ($0, due[$0]) }
    }

    /// A request arrived: every planner's window counts its load.
    public mutating func arrived(_ request: RequestInfo) {
        for w in windows.indices { windows[w].arrived(request) }
    }

    /// An image to generate arrived: every window counts it in the image pool's load.
    public mutating func arrived(_ image: ImageRequestInfo) {
        for w in windows.indices { windows[w].arrived(image) }
    }

    /// A request finished, or was dropped (`met: false`): every window counts it for SLO attainment.
    public mutating func finished(met: Bool) {
        for w in windows.indices { windows[w].finished(met: met) }
    }

    /// Runs planner `p` on `view` with the load of its window, which starts afresh; its next
    /// round is due one interval later.
    public mutating func run(_ p: Int, at now: Double, on view: some ClusterView) -> [FleetAction] {
        let observation = windows[p].close(at: now)
        due[p] = now + planners[p].interval
        return planners[p].plan(view, load: observation)
    }
}

/// Offered load and SLO attainment since a planner's last round, in the units the planners read:
/// request, image-token, prompt-token and predicted decode-token rates per modality group.
public struct LoadWindow: Sendable, Hashable {
    public private(set) var start: Double
    private var totals: [ModalityGroup: StageLoad] = [:]
    private var finished = 0
    private var met = 0

    public init(start: Double) {
        self.start = start
    }

    public mutating func arrived(_ request: RequestInfo) {
        var load = totals[request.group] ?? StageLoad()
        load.requestsPerSecond += 1
        load.imageTokensPerSecond += Double(request.imageTokens)
        load.prefillTokensPerSecond += Double(request.promptTokens)
        load.decodeTokensPerSecond += Double(request.predictedOutputTokens)
        totals[request.group] = load
    }

    public mutating func arrived(_ image: ImageRequestInfo) {
        var load = totals[.image] ?? StageLoad()
        load.requestsPerSecond += 1
        load.controlNetCallsPerSecond += Double(image.controlNetCalls)
        load.controlNetCallPixelsPerSecond += image.controlNetCallPixels
        load.controlNetCallPixelsSquaredPerSecond += image.controlNetCallPixelsSquared
        totals[.image] = load
    }

    public mutating func finished(met: Bool) {
        finished += 1
        if met { self.met += 1 }
    }

    /// The window's rates, then a fresh window from `now`.
    public mutating func close(at now: Double) -> LoadObservation {
        let seconds = max(now - start, 1e-9)
        let perGroup = totals.mapValues { t in
            StageLoad(requestsPerSecond: t.requestsPerSecond / seconds, imageTokensPerSecond: t.imageTokensPerSecond / seconds,
                      prefillTokensPerSecond: t.prefillTokensPerSecond / seconds, decodeTokensPerSecond: t.decodeTokensPerSecond / seconds,
                      controlNetCallsPerSecond: t.controlNetCallsPerSecond / seconds,
                      controlNetCallPixelsPerSecond: t.controlNetCallPixelsPerSecond / seconds,
                      controlNetCallPixelsSquaredPerSecond: t.controlNetCallPixelsSquaredPerSecond / seconds)
        }
        let observation = LoadObservation(window: seconds, perGroup: perGroup,
                                          sloAttainment: finished > 0 ? Double(met) / Double(finished) : nil)
        self = LoadWindow(start: now)
        return observation
    }
}
