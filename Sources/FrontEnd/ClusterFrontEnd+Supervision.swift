import Cluster
import Foundation
import Logging
import ServingAPI
import Synchronization
import WireProtocol

/// Worker supervision: registration, heartbeats, events, and replacing workers that die or hang.
extension ClusterFrontEnd {
    /// A worker connected: its first message must be `register`; later ones are routed by slot.
    func accept(_ connection: Connection) {
        let slotBox = Mutex<Int?>(nil)
        connection.startReading(name: "tessera-worker-link", onMessage: { [weak self] message, payload in
            guard let self else { return }
            if case let .register(hello) = message {
                if let slot = register(hello, connection) { slotBox.withLock { $0 = slot } } else { connection.close() }
                return
            }
            guard let slot = slotBox.withLock({ $0 }) else { return }
            if receiveImageMessage(message, payload, from: slot) { return }
            receive(message, from: slot)
        }, onClose: { [weak self] _ in
            guard let self, let slot = slotBox.withLock({ $0 }) else { return }
            workerLost(slot, connection: connection)
        })
    }

    /// Binds the worker to the slot it names, or an unbound one (a pod of a scaled pool) to the
    /// oldest pending slot of its role and group; nil when there is none to take it.
    private func register(_ hello: WorkerHello, _ connection: Connection) -> Int? {
        let bound = shared.withLock { s -> (slot: Int, handle: InstanceHandle?)? in
            var slot = hello.slot == WorkerHello.unbound
                ? s.slots.first { $0.phase == .starting && $0.connection == nil && $0.handle != nil
                    && $0.role == hello.role && $0.group == (hello.group ?? .text) }?.id
                : hello.slot
            // A pod an external scaler added takes a new slot of its own.
            if slot == nil, hello.slot == WorkerHello.unbound, let handle = provider.adopt(pod: hello.podName, role: hello.role, group: hello.group ?? .text) {
                let id = s.slots.count
                let group = hello.group ?? .text
                var added = WorkerSlot(id: id, role: hello.role, group: group,
                                       spec: instanceSpec(slot: id, role: hello.role, group: group, worker: Topology.WorkerSpec(role: hello.role, count: 1)))
                added.handle = handle
                s.slots.append(added)
                slot = id
            }
            guard let slot, s.slots.indices.contains(slot), s.slots[slot].phase == .starting,
                  s.slots[slot].connection == nil else { return nil }
            s.slots[slot].connection = connection
            s.slots[slot].hello = hello
            s.slots[slot].role = hello.role
            s.slots[slot].lastHeartbeat = .now
            s.slots[slot].phase = .active
            s.slots[slot].activeSince = .now
            s.slots[slot].lastFailure = nil
            // The language model's limits; a diffusion worker has none.
            if s.limits.contextLength == 0, hello.role != .image {
                s.servedModel.imagePlaceholder = hello.imagePlaceholder
                s.servedModel.contextLength = hello.contextLength
                s.limits = PromptLimits(contextLength: hello.contextLength, vocabSize: hello.vocabularySize)
                s.blockSize = hello.blockSize
                s.imageTokenRule = hello.imageTokenRule
            }
            return (slot, s.slots[slot].handle)
        }
        guard let bound else { return nil }
        registeredImageWorker(hello)
        if let handle = bound.handle { provider.registered(handle, pod: hello.podName) }
        return bound.slot
    }

    private func receive(_ message: WireMessage, from slot: Int) {
        switch message {
        case let .heartbeat(load):
            shared.withLock { s in
                s.slots[slot].load = load
                s.slots[slot].lastHeartbeat = .now
            }
        case let .prefilled(id, handle, positions, cached, prompt, spans, imageTimings):
            deliver(id, from: slot, .prefilled(handle: handle, positions: positions, cachedTokens: cached, prompt: prompt, imageSpans: spans,
                                               imageTimings: imageTimings))
        case let .encoded(id, ids, timings): deliver(id, from: slot, .encoded(imageIDs: ids, timings: timings))
        case let .delta(id, delta): deliver(id, from: slot, .delta(delta))
        case let .finished(id, info): deliver(id, from: slot, .finished(info))
        case let .failed(id, error): deliver(id, from: slot, .failed(error))
        case let .admitted(requests, waiting, running):
            options.onBatchDecision?(BatchDecision(instance: slot, requests: requests, waiting: waiting, running: running))
        case let .switched(role): finishSwitch(slot, role: role)
        case .draining: workerDraining(slot)
        default: break
        }
    }

    /// The worker is stopping (SIGTERM): see ``beginLeaving(_:_:)``.
    private func workerDraining(_ slot: Int) {
        if shared.withLock({ beginLeaving(&$0, slot) }) { logger.info("worker draining on SIGTERM", metadata: ["slot": "\(slot)"]) }
    }

    /// A worker about to go (its process got SIGTERM, its pod is being deleted) gets no new
    /// requests and is let go once it has nothing left (``stopDrainedRetirees()``); unless the pool
    /// is scaled externally (then its ReplicaSet decides), a replacement starts once it has gone.
    func beginLeaving(_ s: inout State, _ slot: Int) -> Bool {
        switch s.slots[slot].phase {
        case .active: break
        // The replacement serves the role the planner chose.
        case let .switching(to: role): s.slots[slot].role = role
        case .starting, .retiring, .leaving, .stopped: return false
        }
        s.slots[slot].phase = provider.scaledExternally ? .retiring : .leaving
        return true
    }

    private func deliver(_ id: Int, from slot: Int, _ event: WorkerEvent) {
        let channel = shared.withLock { $0.requests[id] }
        channel?.events.yield(SlotEvent(slot: slot, event: event))
    }

    /// A worker's connection closed (it exited, was killed, or was declared hung): its requests
    /// learn it, its process is reaped, and unless the slot is being retired a replacement is
    /// launched after the slot's backoff (at once after a first failure, or after a worker that
    /// left on SIGTERM, which is no failure).
    func workerLost(_ slot: Int, connection: Connection) {
        let now = ContinuousClock.now
        let outcome: (handle: InstanceHandle?, affected: [AsyncStream<SlotEvent>.Continuation], worker: WorkerSlot, restart: Bool)? = shared.withLock { s in
            guard s.slots[slot].connection === connection else { return nil }
            var worker = s.slots[slot]
            if let load = worker.load {
                s.retiredStatistics.promptTokens += load.statistics.promptTokens
                s.retiredStatistics.generatedTokens += load.statistics.generatedTokens
                s.retiredStatistics.prefixCacheQueriedTokens += load.statistics.prefixCacheQueriedTokens
                s.retiredStatistics.prefixCacheHitTokens += load.statistics.prefixCacheHitTokens
                s.retiredStatistics.preemptions += load.statistics.preemptions
                s.retiredTransfer = s.retiredTransfer + TransferTotals(load)
            }
            let affected = worker.assigned.keys.compactMap { s.requests[$0]?.events }
            worker.connection = nil
            worker.hello = nil
            worker.load = nil
            worker.assigned = [:]
            worker.decoding = []
            s.cachedImages[slot] = nil
            s.cachedPrefixes[slot] = nil
            // Externally scaled, a lost worker's pod is replaced by its ReplicaSet and registers anew.
            let restart = s.engineState != .stopped && worker.phase != .retiring && worker.phase != .stopped && !provider.scaledExternally
            if case let .switching(to: role) = worker.phase { worker.role = role }
            let left = worker.phase == .leaving
            worker.phase = restart ? .starting : .stopped
            if restart && left {
                worker.relaunchAt = now
            } else if restart {
                worker.lastFailure = worker.lastFailure ?? "its connection closed (the process exited or was killed)"
                scheduleRelaunch(&worker, now: now)
            }
            worker.activeSince = nil
            s.slots[slot] = worker
            return (worker.handle, affected, worker, restart && !left)
        }
        guard let outcome else { return }
        imageRequests.workerLost(slot)
        if outcome.restart { logFailure(outcome.worker, now: now) }
        for events in outcome.affected { events.yield(SlotEvent(slot: slot, event: .workerLost)) }
        if let handle = outcome.handle { provider.stop(handle, force: true) }
        for handle in outcome.worker.stageHandles { provider.stop(handle, force: true) }
        launchDue(now: now)
    }

    /// Counts a failed lifetime of the slot's worker and sets when its replacement launches.
    private func scheduleRelaunch(_ worker: inout WorkerSlot, now: ContinuousClock.Instant) {
        let backoff = topology.restartBackoff
        worker.failures = backoff.failures(after: worker.failures, activeSince: worker.activeSince, now: now)
        worker.relaunchAt = now + backoff.delay(afterFailures: worker.failures)
    }

    private func logFailure(_ worker: WorkerSlot, now: ContinuousClock.Instant) {
        let wait = worker.relaunchAt.map { max(.zero, $0 - now) } ?? .zero
        logger.warning("worker lost; relaunching", metadata: [
            "slot": "\(worker.id)", "role": "\(worker.role.rawValue)", "group": "\(worker.group.rawValue)",
            "reason": "\(worker.lastFailure ?? "unknown")", "failures_in_a_row": "\(worker.failures)",
            "relaunch_in_s": "\(wait.seconds)",
        ])
    }

    /// Launches the replacements whose backoff has passed. A launch that fails counts as a failed
    /// lifetime and is tried again after the next backoff: a slot is never given up.
    func launchDue(now: ContinuousClock.Instant = .now) {
        let due = shared.withLock { s -> [Int] in
            guard s.engineState != .stopped else { return [] }
            return s.slots.filter { $0.phase == .starting && ($0.relaunchAt.map { $0 <= now } ?? false) }.map(\.id)
        }
        for slot in due {
            do {
                shared.withLock { $0.slots[slot].relaunchAt = nil }
                try launch(slot)
            } catch {
                let worker = shared.withLock { s -> WorkerSlot in
                    s.slots[slot].lastFailure = "\(error)"
                    scheduleRelaunch(&s.slots[slot], now: now)
                    return s.slots[slot]
                }
                logFailure(worker, now: now)
            }
        }
    }

    /// Starts (or restarts) the worker process of a slot.
    func launch(_ slot: Int) throws {
        let spec = shared.withLock { s in
            var spec = s.slots[slot].spec
            spec.role = s.slots[slot].role
            if let i = spec.arguments.firstIndex(of: "--role") { spec.arguments[i + 1] = spec.role.rawValue }
            s.slots[slot].spec = spec
            return spec
        }
        try launchStages(slot)
        let handle = try provider.start(spec)
        let restart = shared.withLock { s -> Int? in
            defer {
                s.slots[slot].handle = handle
                s.slots[slot].lastHeartbeat = .now
            }
            guard s.slots[slot].handle != nil else { return nil }
            s.slots[slot].restarts += 1
            s.workerRestarts[spec.role, default: 0] += 1
            return s.slots[slot].restarts
        }
        if let restart {
            logger.info("worker relaunched", metadata: [
                "slot": "\(slot)", "role": "\(spec.role.rawValue)", "restarts": "\(restart)", "instance": "\(handle.id)",
            ])
        }
    }

    /// Heartbeat watchdog, relauncher and fleet planners.
    func startSupervision() {
        let timeout = Duration.milliseconds(topology.heartbeatTimeoutMs)
        let interval = Duration.milliseconds(topology.heartbeatIntervalMs)
        let watchdog = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                self?.checkHeartbeats(timeout: timeout)
                self?.launchDue()
            }
        }
        shared.withLock { $0.tasks.append(watchdog) }
        startPlanners()
    }

    /// Declares silent workers hung: kills them so their connection closes and they are replaced.
    /// A starting worker whose process died before registering waits out its backoff, then is relaunched.
    func checkHeartbeats(timeout: Duration) {
        let now = ContinuousClock.now
        let (hung, crashed) = shared.withLock { s -> ([WorkerSlot], [WorkerSlot]) in
            guard s.engineState != .stopped else { return ([], []) }
            let hung = s.slots.indices.filter { s.slots[$0].connection != nil && now - s.slots[$0].lastHeartbeat > timeout }
            for i in hung { s.slots[i].lastFailure = "no heartbeat for \(timeout) (hung)" }
            let crashed = s.slots.indices.filter { i in
                let slot = s.slots[i]
                return slot.phase == .starting && slot.connection == nil && slot.relaunchAt == nil
                    && !(slot.handle.map(provider.isAlive) ?? false)
            }
            for i in crashed {
                s.slots[i].lastFailure = "the worker exited before registering (see its log)"
                scheduleRelaunch(&s.slots[i], now: now)
            }
            return (hung.map { s.slots[$0] }, crashed.map { s.slots[$0] })
        }
        for slot in crashed { logFailure(slot, now: now) }
        for slot in hung {
            logger.warning("worker declared hung; killing it", metadata: [
                "slot": "\(slot.id)", "role": "\(slot.role.rawValue)", "silent_s": "\((now - slot.lastHeartbeat).seconds)",
            ])
            if let handle = slot.handle { provider.stop(handle, force: true) }
            slot.connection?.close()
        }
        drainLeaving()
        stopDrainedRetirees()
    }

    /// Workers whose instance someone else is stopping (a pod deleted by an external scaler's lower
    /// count, an eviction, a lost node) leave (``beginLeaving(_:_:)``).
    func drainLeaving() {
        shared.withLock { s in
            for i in s.slots.indices where s.slots[i].connection != nil {
                if let handle = s.slots[i].handle, provider.isLeaving(handle) { _ = beginLeaving(&s, i) }
            }
        }
    }
}
