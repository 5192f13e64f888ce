import Engine
import Foundation
import FrontEnd
import Simulator

extension ServeCommand {
    /// Starts the topology's workers behind a front end that serves like a single engine.
    func startFrontEnd(topologyPath: String, model: URL, name: String?) async throws -> ClusterFrontEnd {
        var topology = try Topology(contentsOf: URL(fileURLWithPath: topologyPath))
        // The planners' capacities from a measured cost model, as the simulator derives them.
        if let profile { topology.capacity = try CostModel.load(from: URL(fileURLWithPath: profile)).servingCapacity() }
        let runtime = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true)
        var options = FrontEndOptions(modelDirectory: model.standardizedFileURL, runtimeDirectory: runtime)
        options.servedModelName = name
        options.maxModelLength = maxModelLength
        options.maxQueuedRequests = maxQueuedRequests
        options.maxQueuedTokens = maxQueuedTokens
        options.workerArguments = [
            "--kv-cache-memory", String(kvCacheMemoryMiB), "--block-size", String(blockSize),
            "--max-num-batched-tokens", String(maxBatchedTokens), "--max-num-seqs", String(maxRunningRequests),
            "--widened-weight-memory", String(modelOptions.widenedWeightMemoryMiB),
        ] + (modelOptions.threads.map { ["--threads", String($0)] } ?? [])
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        let frontEnd = try ClusterFrontEnd(
            topology: topology, options: options, provider: LocalProcessProvider(executable: executable, logDirectory: runtime))
        FileHandle.standardError.write(Data("starting \(topology.slots.count) workers (logs in \(runtime.path))\n".utf8))
        try await frontEnd.start()
        return frontEnd
    }
}
