import Cluster

extension ClusterSimulator {
    /// Planner `p`'s round, on the fleet schedule the live front end runs too.
    func tick(_ p: Int) {
        let actions = schedule.run(p, at: now, on: self)
        for action in actions { apply(action) }
        if !allDone { events.push(.plannerTick(p), at: schedule.due[p]) }
    }

    func apply(_ action: FleetAction) {
        switch action {
        case let .launch(role, group):
            let i = addInstance(role: role, group: group, phase: .starting)
            reconfigurations += 1
            events.push(.ready(i), at: now + cost.lifecycle.startupSeconds)
        case let .switchRole(i, _), let .moveGroup(i, _, _), let .retire(i):
            guard fleet.indices.contains(i), fleet[i].phase == .active else { return }
            if case .retire = action, instances.count(where: \.isActive) <= 1 { return }
            let inst = fleet[i]
            inst.phase = .draining
            inst.pending = action
            reconfigurations += 1
            candidateCache.removeAll()
            refresh(i)
            evacuate(i)
            if inst.decodeRun != nil { interrupt(i) } else if !inst.busy { kick(i) }
        }
    }

    /// Hands a draining instance's unstarted prefill work and its decode sequences to others;
    /// queued encode jobs finish in place.
    func evacuate(_ i: Int) {
        let inst = fleet[i]
        for r in inst.prefillQueue.removeAll() {
            inst.pendingPrefillTokens -= requests[r].prefillTokens
            inst.pendingImageTokens -= requests[r].inlineTokens
            dispatchPrefill(r, inline: requests[r].inlineTokens > 0)
        }
        if inst.decodeRun == nil { migrateDecodes(i) }
        refresh(i)
    }

    /// Moves running and waiting sequences, with their KV, to other decode-capable instances.
    func migrateDecodes(_ i: Int) {
        let inst = fleet[i]
        guard inst.phase == .draining else { return }
        for r in inst.running {
            let generated = inst.steps - requests[r].joinStep
            requests[r].decoded += generated
            inst.kvUsed -= requests[r].kvTokens
            inst.context -= requests[r].info.promptTokens + requests[r].decoded
            dispatchDecode(r, tokens: requests[r].info.promptTokens + requests[r].decoded)
        }
        for r in inst.waiting { dispatchDecode(r, tokens: 0) }
        inst.running.removeAll()
        inst.waiting.removeAll()
    }

    func beginSwitch(_ i: Int) {
        let inst = fleet[i]
        guard inst.phase == .draining else { return }
        if case .retire = inst.pending {
            inst.phase = .retired
            inst.retired = now
            inst.pending = nil
        } else {
            inst.phase = .switching
            events.push(.ready(i), at: now + (system.roleSwitchSeconds ?? cost.lifecycle.roleSwitchSeconds))
        }
        candidateCache.removeAll()
        refresh(i)
    }

    func becomeReady(_ i: Int) {
        let inst = fleet[i]
        switch inst.pending {
        case let .switchRole(_, role): inst.role = role
        case let .moveGroup(_, group, role): inst.role = role; inst.group = group
        default: break
        }
        inst.pending = nil
        inst.phase = .active
        candidateCache.removeAll()
        refresh(i)
        let waiting = parked
        parked.removeAll()
        for r in waiting {
            if requests[r].image != nil {
                routeImage(r)
            } else if requests[r].firstToken >= 0 {
                dispatchDecode(r, tokens: requests[r].info.promptTokens + requests[r].decoded)
            } else {
                dispatchPrefill(r, inline: requests[r].inlineTokens != 0)
            }
        }
        kick(i)
    }

    /// Intercepts decode completions on draining instances so their sequences migrate.
    func afterDecodeBoundary(_ i: Int) {
        if fleet[i].phase == .draining { migrateDecodes(i) }
    }

    func sample() {
        var byRole: [String: Int] = [:]
        var active = 0
        for s in instances where s.isActive {
            active += 1
            byRole[s.role.rawValue, default: 0] += 1
        }
        timeline.append(FleetSample(time: now, active: active, byRole: byRole))
        if !allDone && now < horizon { events.push(.sample, at: now + sampleInterval) }
    }

    func summary(offeredRate: Double) -> SimulationResult {
        var ttft: [Double] = [], tpot: [Double] = [], images: [Double] = []
        var completed = 0, met = 0, makespan = 0.0, reused = 0, textTokens = 0
        for r in requests where !r.dropped && r.finish >= 0 {
            completed += 1
            reused += r.reusedTokens
            textTokens += r.info.textTokens
            makespan = max(makespan, r.finish)
            if meetsSLO(r) { met += 1 }
            if r.image != nil {
                images.append(r.finish - r.info.arrival)
                continue
            }
            ttft.append(r.firstToken - r.info.arrival)
            if r.output > 1 { tpot.append((r.finish - r.firstToken) / Double(r.output - 1)) }
        }
        var hours = 0.0
        for inst in fleet {
            let start = min(inst.launched, horizon)
            let end = min(inst.retired ?? horizon, horizon)
            hours += max(0, end - start) / 3600
        }
        let n = max(requests.count, 1)
        return SimulationResult(
            system: system.name, offeredRate: offeredRate, requests: requests.count, completed: completed,
            ttft: LatencySummary(ttft), tpot: LatencySummary(tpot), sloAttainment: Double(met) / Double(n),
            goodput: Double(met) / horizon, throughput: Double(completed) / horizon, makespan: makespan, instanceHours: hours,
            gpuHours: hours * Double(cost.gpusPerInstance), reconfigurations: reconfigurations, timeline: timeline,
            imageLatency: requests.contains { $0.image != nil } ? LatencySummary(images) : nil,
            imageWork: requests.contains { $0.image != nil } ? imageWork : nil,
            textPrefixHitRate: requests.contains { !$0.info.promptBlockHashes.isEmpty } ? Double(reused) / Double(max(textTokens, 1)) : nil)
    }
}
