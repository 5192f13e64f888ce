import Cluster
import Foundation
import WireProtocol

/// Layer-split (pipeline-parallel) workers: UELLM's HELR (arXiv 2409.14961 §4.3) picks which
/// processes hold which layers (``PipelineSplit/plan()``, the same plan the simulator times); the first
/// stage is the worker that registers and serves requests, its later stages are
/// `tessera pipeline-stage` processes launched and stopped with it.
extension ClusterFrontEnd {
    /// Options of the worker arguments a later stage takes too (it has no scheduler or HTTP side).
    static let stageOptions: Set<String> = ["--threads", "--kv-cache-memory", "--block-size", "--quantize", "--widened-weight-memory"]

    /// Plans the split of a pipelined worker's slot over `stages` and sets the processes it runs.
    func split(_ slot: inout WorkerSlot, over stages: [Topology.PipelineStageSpec], worker: Topology.WorkerSpec) throws {
        // A Kubernetes provider scales pools of one pod template; a stage needs its own command line.
        guard provider is LocalProcessProvider else { throw FrontEndError.badTopology("pipelined workers run as local processes (launcher places them)") }
        guard let units = options.placementUnits else {
            throw FrontEndError.badTopology("a pipeline needs the model's placement units (FrontEndOptions.placementUnits)")
        }
        let defaultLink = topology.transfer == .shm ? 10.0 : 1.0
        let plan: LayerPlacement
        do {
            plan = try PipelineSplit(units: units, stages: stages.map {
                PipelineSplit.Stage(memoryBytes: $0.memoryMiB * 1_048_576, flopsPerSecond: $0.gflops * 1e9,
                                    linkBytesPerSecond: ($0.linkGBps ?? defaultLink) * 1e9)
            }).plan()
        } catch {
            throw FrontEndError.badTopology("slot \(slot.id)'s pipeline: \(error)")
        }
        slot.pipeline = plan
        let blocks = plan.blocks
        logger.info("pipeline planned", metadata: [
            "slot": "\(slot.id)", "units": "\(blocks.map { Self.units($0) + " on stage \($0.device)" }.joined(separator: ", "))",
            "forward_seconds_per_token": "\(plan.latency)",
        ])
        let endpoints = try blocks.indices.map { k in try k == 0 ? "" : listenEndpoint(stages[blocks[k].device], slot: slot.id, stage: k) }
        let first = stages[blocks[0].device]
        slot.spec.arguments += first.arguments ?? []
        if let launcher = first.launcher { slot.spec.launcher = launcher }
        guard blocks.count > 1 else { return }
        slot.spec.arguments += ["--pipeline-units", Self.units(blocks[0]), "--pipeline-next", endpoints[1]]
        let inherited = Self.stageArguments(options.workerArguments + (worker.arguments ?? []))
        slot.stages = blocks.indices.dropFirst().map { k in
            let stage = stages[blocks[k].device]
            var arguments = ["pipeline-stage", "--model", options.modelDirectory.path, "--units", Self.units(blocks[k]),
                             "--listen", endpoints[k], "--startup-timeout", String(Int(options.startupTimeout.seconds.rounded(.up)))]
            if k + 1 < blocks.count { arguments += ["--next", endpoints[k + 1]] }
            if topology.transfer == .tcp { arguments.append("--no-shared-memory") }
            arguments += inherited + (stage.arguments ?? [])
            return InstanceSpec(slot: slot.id, role: slot.role, group: slot.group, arguments: arguments,
                                launcher: stage.launcher ?? worker.launcher ?? [], stage: k)
        }
    }

    /// Starts a slot's later pipeline stages (stopping any left from its last life), before its worker.
    func launchStages(_ slot: Int) throws {
        let (stages, old) = shared.withLock { s in (s.slots[slot].stages, s.slots[slot].stageHandles) }
        guard !stages.isEmpty else { return }
        for handle in old { provider.stop(handle, force: true) }
        var handles: [InstanceHandle] = []
        defer { shared.withLock { [handles] in $0.slots[slot].stageHandles = handles } }
        for stage in stages { handles.append(try provider.start(stage)) }
    }

    /// The plan that splits a pipelined worker's layers; nil for other slots.
    public func pipelinePlan(slot: Int) -> LayerPlacement? {
        shared.withLock { s in s.slots.indices.contains(slot) ? s.slots[slot].pipeline : nil }
    }

    /// Where a later stage listens: its `transfer`, a Unix socket in the runtime folder (shm), or a
    /// free local port (tcp).
    private func listenEndpoint(_ stage: Topology.PipelineStageSpec, slot: Int, stage k: Int) throws -> String {
        if let transfer = stage.transfer { return transfer }
        guard topology.transfer == .tcp else {
            return "unix:" + options.runtimeDirectory.appendingPathComponent("stage-\(slot)-\(k).sock").path
        }
        let probe = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        defer { probe.close() }
        return probe.endpoint.description
    }

    private static func units(_ block: LayerPlacement.Block) -> String { "\(block.layers.lowerBound):\(block.layers.upperBound)" }

    /// The ``stageOptions`` among worker arguments, with their values.
    static func stageArguments(_ arguments: [String]) -> [String] {
        var kept: [String] = [], i = 0
        while i < arguments.count {
            let name = String(arguments[i].split(separator: "=", maxSplits: 1).first ?? "")
            let width = arguments[i].contains("=") ? 1 : 2
            if stageOptions.contains(name) { kept += arguments[i ..< min(i + width, arguments.count)] }
            i += stageOptions.contains(name) ? width : 1
        }
        return kept
    }
}
