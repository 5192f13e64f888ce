/// EPD's dynamic role switching (arXiv 2501.05460, §3.4 "Dynamic role switching").
///
/// Every `interval` seconds (5 s in the paper's runtime) one instance moves from the stage with the
/// shortest queue to the stage with the longest, unless every stage's queue is at least half the
/// longest (the load is then balanced and a switch would only cost its offload/onload time). Each
/// stage keeps at least one instance; an idle donor is preferred. Queues are requests waiting per
/// instance of the stage. Our addition: the receiving stage needs at least `minimumQueue` waiting
/// requests per instance, so single-request noise does not trigger a switch (each costs a drain
/// and the offload/onload time), and after a switch a group waits `cooldownRounds` rounds so the
/// moved instance's effect shows in the queues before the next decision.
public struct RoleSwitcher: FleetPlanner {
    public var interval: Double
    public var minimumQueue: Double
    public var cooldownRounds: Int
    private var cooldown: [ModalityGroup: Int] = [:]

    public init(interval: Double = 5, minimumQueue: Double = 2, cooldownRounds: Int = 6) {
        self.interval = interval
        self.minimumQueue = minimumQueue
        self.cooldownRounds = cooldownRounds
    }

    public mutating func plan(_ cluster: some ClusterView, load: LoadObservation) -> [FleetAction] {
        var actions: [FleetAction] = []
        for group in ModalityGroup.language {
            if let wait = cooldown[group], wait > 0 {
                cooldown[group] = wait - 1
                continue
            }
            let members = cluster.active(group: group)
            let byRole = Dictionary(grouping: members, by: \.role)
            let stages = byRole.keys.filter { $0 != .mono }.sorted { $0.rawValue < $1.rawValue }
            guard stages.count > 1 else { continue }
            let queue = { (role: InstanceRole) -> Double in
                let pool = byRole[role] ?? []
                let waiting = pool.reduce(0) { $0 + max(0, $1.queuedRequests - $1.runningDecodes) }
                return Double(waiting) / Double(max(pool.count, 1))
            }
            guard let longest = stages.max(by: { (queue($0), $1.rawValue) < (queue($1), $0.rawValue) }) else { continue }
            let top = queue(longest)
            guard top > 0, top >= minimumQueue, !stages.allSatisfy({ queue($0) >= top / 2 }) else { continue }
            let donors = stages.filter { $0 != longest && (byRole[$0]?.count ?? 0) > 1 }
            guard let from = donors.min(by: { (queue($0), $0.rawValue) < (queue($1), $1.rawValue) }),
                  let instance = byRole[from]?.min(by: { ($0.queuedRequests + $0.runningDecodes, $0.id) < ($1.queuedRequests + $1.runningDecodes, $1.id) })
            else { continue }
            actions.append(.switchRole(instance: instance.id, to: longest))
            cooldown[group] = cooldownRounds
        }
        return actions
    }
}
