import Cluster
import Foundation
import WireProtocol

/// Changing the fleet while it serves: role switches (ElasticMM's elastic partitioning, EPD's role
/// switching), and launching or retiring workers (ModServe's per-stage autoscaling). The planners
/// are the Cluster policies from the topology's ``PolicySpec``, run on the live cluster view on the
/// same ``FleetSchedule`` as in the simulator; this file only executes their actions.
extension ClusterFrontEnd {
    func startPlanners() {
        let start = clock()
        let planning = shared.withLock { s in
            s.schedule = FleetSchedule(planners: s.schedule.planners, start: start)
            return !s.schedule.planners.isEmpty
        }
        guard planning else { return }
        let task = Task { [weak self] in
            while !Task.isCancelled {
                guard let wait = self?.secondsToNextRound() else { return }
                if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
                self?.planRound()
            }
        }
        shared.withLock { $0.tasks.append(task) }
    }

    private func secondsToNextRound() -> Double? {
        shared.withLock { s in s.schedule.next.map { $0.time - clock() } }
    }

    /// Runs every planner whose round is due, each with its own window's load, on the live cluster.
    func planRound() {
        let actions = shared.withLock { s -> [FleetAction] in
            let now = clock()
            let view = liveCluster(s)
            var actions: [FleetAction] = []
            while let next = s.schedule.next, next.time <= now { actions += s.schedule.run(next.planner, at: now, on: view) }
            guard s.engineState == .ready else { return [] }
            if provider.scaledExternally {
                // The planners' launches and retirements become the replica counts asked of the
                // external scaler (tessera:desired_replicas); role switches still happen here.
                var desired = activeWorkers(s)
                for action in actions {
                    switch action {
                    case let .launch(role, group): desired[provider.poolName(group: group, role: role), default: 0] += 1
                    case let .retire(slot) where s.slots.indices.contains(slot):
                        desired[provider.poolName(group: s.slots[slot].group, role: s.slots[slot].role), default: 0] -= 1
                    default: break
                    }
                }
                s.desiredReplicas = desired
                return actions.filter { if case .switchRole = $0 { true } else if case .moveGroup = $0 { true } else { false } }
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
        let handle = shared.withLock { s -> InstanceHandle? in
            guard case .switching = s.slots[slot].phase else { return nil }
            s.slots[slot].role = role
            s.slots[slot].spec.role = role
            s.slots[slot].phase = .active
            s.roleSwitches += 1
            return s.slots[slot].handle
        }
        if let handle { provider.roleChanged(handle, to: role) }
    }

    /// Retiring and leaving workers with nothing left to do are let go: their connection closes,
    /// and the worker exits (a retiring slot stays stopped, a leaving one is replaced).
    func stopDrainedRetirees() {
        let done = shared.withLock { s in
            s.slots.filter { ($0.phase == .retiring || $0.phase == .leaving) && $0.assigned.isEmpty && ($0.load?.parkedKV ?? 0) == 0 }
        }
        for slot in done { slot.connection?.close() }
    }
}
