/// ModServe's per-stage autoscaler (arXiv 2502.00937, §5.4 "Autoscaling").
///
/// Every `evaluationPeriod` seconds (5 min in the paper) each role is resized to
/// `ceil(load / capacity)`, where load is the stage's token rate over the window (image tokens for
/// image instances) and capacity the profiled per-instance rate that meets the SLO; a role that
/// runs several stages sums their load fractions. Between evaluations, every `interval` seconds,
/// SLO attainment below `attainmentTarget` (0.99) adds one instance to the most loaded role.
/// Scale-down only happens at full evaluations, retiring the least-loaded instances first.
/// `targetUtilization` turns raw profiled throughput into the capacity that still meets the SLO
/// (ModServe profiles that capacity directly; a cost model gives throughput, so we derate it).
public struct StageAutoscaler: FleetPlanner {
    public var capacity: InstanceCapacity
    public var interval: Double
    public var evaluationPeriod: Double
    public var attainmentTarget: Double
    /// Per-role floor, so every stage keeps at least this many instances.
    public var minimumPerRole: Int
    /// Fraction of profiled throughput an instance is loaded to, 0 < u ≤ 1.
    public var targetUtilization: Double
    /// Upper bound on the fleet.
    public var maximumInstances: Int
    private var sinceEvaluation: Double

    public init(capacity: InstanceCapacity, interval: Double = 60, evaluationPeriod: Double = 300,
                attainmentTarget: Double = 0.99, minimumPerRole: Int = 1, targetUtilization: Double = 1, maximumInstances: Int = .max) {
        self.capacity = capacity
        self.interval = interval
        self.evaluationPeriod = evaluationPeriod
        self.attainmentTarget = attainmentTarget
        self.minimumPerRole = minimumPerRole
        self.targetUtilization = min(1, max(0.01, targetUtilization))
        self.maximumInstances = maximumInstances
        self.sinceEvaluation = evaluationPeriod
    }

    /// Instances each role needs for the observed load: `ceil(Σ stage load / capacity)`.
    /// Stages are charged to the most specialised role present that runs them.
    public func requiredInstances(roles: Set<InstanceRole>, load: StageLoad) -> [InstanceRole: Int] {
        var fraction: [InstanceRole: Double] = [:]
        for stage in Stage.allCases {
            let owners = roles.filter { $0.runs(stage) }
            guard let owner = owners.min(by: { Self.breadth($0) < Self.breadth($1) || (Self.breadth($0) == Self.breadth($1) && $0.rawValue < $1.rawValue) }) else { continue }
            let cap = capacity.rate(of: stage) * targetUtilization
            guard cap > 0 else { continue }
            fraction[owner, default: 0] += load.rate(of: stage) / cap
        }
        var result: [InstanceRole: Int] = [:]
        for role in roles {
            // Round away float noise so an exact fit does not add an instance.
            result[role] = max(minimumPerRole, Int((fraction[role, default: 0] - 1e-9).rounded(.up)))
        }
        return result
    }

    public mutating func plan(_ cluster: some ClusterView, load: LoadObservation) -> [FleetAction] {
        sinceEvaluation += load.window
        let fleet = cluster.instances.filter(\.isActive)
        let roles = Set(fleet.map(\.role))
        guard !roles.isEmpty, let group = fleet.first?.group else { return [] }
        let counts = Dictionary(grouping: fleet, by: \.role)
        let required = requiredInstances(roles: roles, load: load.total)
        var actions: [FleetAction] = []

        if sinceEvaluation >= evaluationPeriod {
            sinceEvaluation = 0
            var total = cluster.instances.count { $0.isActive }
            for role in roles.sorted(by: { $0.rawValue < $1.rawValue }) {
                let have = counts[role]?.count ?? 0
                let want = required[role] ?? minimumPerRole
                if want > have {
                    for _ in 0..<min(want - have, max(0, maximumInstances - total)) {
                        actions.append(.launch(role: role, group: group))
                        total += 1
                    }
                } else if want < have, let members = counts[role] {
                    let idleFirst = members.sorted { ($0.queuedRequests, $0.runningDecodes, $0.id) < ($1.queuedRequests, $1.runningDecodes, $1.id) }
                    actions += idleFirst.prefix(have - want).map { .retire(instance: $0.id) }
                }
            }
            return actions
        }
        if let attained = load.sloAttainment, attained < attainmentTarget,
           cluster.instances.count(where: \.isActive) < maximumInstances {
            // The bottleneck role: the highest required-to-present ratio.
            let bottleneck = roles.max { a, b in
                let ra = Double(required[a] ?? 0) / Double(max(counts[a]?.count ?? 1, 1))
                let rb = Double(required[b] ?? 0) / Double(max(counts[b]?.count ?? 1, 1))
                return ra < rb || (ra == rb && a.rawValue > b.rawValue)
            }
            if let bottleneck { actions.append(.launch(role: bottleneck, group: group)) }
        }
        return actions
    }

    /// How many stages a role runs; fewer means more specialised.
    static func breadth(_ role: InstanceRole) -> Int { Stage.allCases.count { role.runs($0) } }
}
