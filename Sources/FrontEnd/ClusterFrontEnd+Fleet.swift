import Cluster
import Foundation
import WireProtocol

/// Changing the fleet while it serves: role switches (ElasticMM's elastic partitioning, EPD's role
/// switching), and launching or retiring workers (ModServe's per-stage autoscaling). The planners
/// are the Cluster policies, run on the live cluster view; this file only executes their actions.
extension ClusterFrontEnd {
    func startPlanners() {
        var planners: [any FleetPlanner] = []
        let capacity = topology.capacity
        if let elastic = topology.elastic {
            switch elastic.planner {
            case "role-switcher":
                planners.append(RoleSwitcher(interval: elastic.intervalSeconds, minimumQueue: elastic.minimumQueue ?? 2, cooldownRounds: 2))
            default:
                planners.append(ElasticPartitioner(
                    capacity: capacity, interval: elastic.intervalSeconds, decodeSlowdownWeight: elastic.decodeSlowdownWeight ?? 1))
            }
        }
        if let balancer = topology.groupBalancer {
            planners.append(BurstTolerancePlanner(
                capacity: capacity, interval: balancer.intervalSeconds, proactivePeriod: balancer.proactivePeriodSeconds ?? 600,
                historyLength: balancer.historyLength ?? 20, burstQueueThreshold: balancer.burstQueueThreshold ?? 20))
        }
        if let scale = topology.autoscale {
            planners.append(StageAutoscaler(
                capacity: capacity, interval: scale.intervalSeconds, evaluationPeriod: scale.evaluationSeconds,
                attainmentTarget: scale.attainmentTarget ?? 0.99, maximumInstances: scale.maximumWorkers))
        }
        let slo = topology.autoscale?.ttftSLOSeconds ?? 2
        shared.withLock { s in
            s.planners = planners
            s.window.ttftSLO = slo
        }
        guard let interval = planners.map(\.interval).min() else { return }
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(interval))
                self?.planRound()
            }
        }
        shared.withLock { $0.tasks.append(task) }
    }

    /// One planning round: every planner sees the live cluster and the window's load.
    func planRound() {
        let actions = shared.withLock { s -> [FleetAction] in
            guard s.engineState == .ready else { return [] }
            let view = liveCluster(s)
            let load = s.window.close()
            var actions: [FleetAction] = []
            for i in s.planners.indices {
                var planner = s.planners[i]
                actions += planner.plan(view, load: load)
                s.planners[i] = planner
            }
            // Planners count active workers only: a stage whose worker from an earlier round is
            // still starting is not launched again, or the fleet would overshoot what they asked for.
            let starting = s.slots.filter { $0.phase == .starting }.map { ($0.role, $0.group) }
            return actions.filter { action in
                guard case let .launch(role, group) = action else { return true }
                return !starting.contains { $0 == (role, group) }
            }
        }
        for action in actions { _ = try? execute(action) }
        stopDrainedRetirees()
    }

    /// Moves a worker to another modality group, in `role` there (same drain and rejoin as `switchRole`).
    @discardableResult
    public func moveGroup(slot: Int, to group: ModalityGroup, role: InstanceRole) -> Bool {
        (try? execute(.moveGroup(instance: slot, to: group, role: role))) ?? false
    }

    /// Moves a worker to another role: it stops receiving requests, finishes what it has, and
    /// rejoins in the new role. Refused (false) when it would leave a stage of its group without an
    /// active worker, or the worker is not active.
    @discardableResult
    public func switchRole(slot: Int, to role: InstanceRole) -> Bool {
        (try? execute(.switchRole(instance: slot, to: role))) ?? false
    }

    func execute(_ action: FleetAction) throws -> Bool {
        switch action {
        case let .switchRole(slot, role):
            return beginSwitch(slot, to: role, group: nil)
        case let .moveGroup(slot, group, role):
            return beginSwitch(slot, to: role, group: group)
        case let .launch(role, group):
            let slot = shared.withLock { s -> Int in
                let id = s.slots.count
                let worker = Topology.WorkerSpec(role: role, count: 1)
                s.slots.append(WorkerSlot(id: id, role: role, group: group, spec: instanceSpec(slot: id, role: role, group: group, worker: worker)))
                return id
            }
            try launch(slot)
            return true
        case let .retire(slot):
            return shared.withLock { s in
                guard s.slots.indices.contains(slot), s.slots[slot].isActive, keepsEveryStage(s, without: slot) else { return false }
                s.slots[slot].phase = .retiring
                return true
            }
        }
    }

    private func beginSwitch(_ slot: Int, to role: InstanceRole, group: ModalityGroup?) -> Bool {
        let connection = shared.withLock { s -> Connection? in
            guard s.slots.indices.contains(slot), s.slots[slot].isActive, s.slots[slot].role != role || group != nil,
                  role != .encodePrefill,
                  keepsEveryStage(s, without: slot) else { return nil }
            s.slots[slot].phase = .switching(to: role)
            if let group { s.slots[slot].group = group }
            return s.slots[slot].connection
        }
        guard let connection else { return false }
        try? connection.send(.switchRole(role))
        return true
    }

    /// Whether the group of `slot` can still serve every stage without it.
    private func keepsEveryStage(_ s: State, without slot: Int) -> Bool {
        let group = s.slots[slot].group
        let others = s.slots.filter { $0.id != slot && $0.group == group && $0.isActive }.map(\.role)
        let role = s.slots[slot].role
        if role == .mono { return others.contains(.mono) || (others.contains(.prefill) && others.contains(.decode)) }
        return others.contains(role) || others.contains(.mono)
    }

    /// A worker reported it drained and now serves `role`.
    func finishSwitch(_ slot: Int, role: InstanceRole) {
        shared.withLock { s in
            guard case .switching = s.slots[slot].phase else { return }
            s.slots[slot].role = role
            s.slots[slot].spec.role = role
            s.slots[slot].phase = .active
            s.roleSwitches += 1
        }
    }

    /// Retiring workers with nothing left to do are stopped (their slot stays, stopped).
    func stopDrainedRetirees() {
        let done = shared.withLock { s in
            s.slots.filter { $0.phase == .retiring && $0.assigned.isEmpty && ($0.load?.parkedKV ?? 0) == 0 }
        }
        for slot in done { slot.connection?.close() }
    }
}
