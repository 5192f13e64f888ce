import ArgumentParser
import Engine
import Foundation
import FrontEnd
import KubernetesClient
import Simulator

extension ServeCommand {
    /// Starts the topology's workers behind a front end that serves like a single engine.
    func startFrontEnd(topologyPath: String, model: URL, name: String?) async throws -> ClusterFrontEnd {
        var topology = try Topology(contentsOf: URL(fileURLWithPath: topologyPath))
        // The planners' capacities from a measured cost model, as the simulator derives them.
        if let profile { topology.capacity = try CostModel.load(from: URL(fileURLWithPath: profile)).servingCapacity() }
        // A fresh directory only this user can enter (mkdtemp: 0700, a name no one can take first),
        // removed with the worker sockets and logs on shutdown.
        var template = Array(FileManager.default.temporaryDirectory.appendingPathComponent("tessera-XXXXXX").path.utf8CString)
        guard let created = mkdtemp(&template) else {
            throw ValidationError("cannot create a private run directory in \(FileManager.default.temporaryDirectory.path)")
        }
        let runtime = URL(fileURLWithPath: String(cString: created), isDirectory: true)
        var options = FrontEndOptions(modelDirectory: model.standardizedFileURL, runtimeDirectory: runtime)
        options.removeRuntimeDirectory = true
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
        let provider: any InstanceProvider
        if let settings = try KubernetesSettings.placement(contentsOf: URL(fileURLWithPath: topologyPath)) {
            let kubernetes = try KubernetesInstanceProvider(settings: settings, client: KubernetesClient(try KubernetesConfig.load()))
            FileHandle.standardError.write(Data("starting \(topology.slots.count) workers as pods in namespace \(kubernetes.namespace)\n".utf8))
            provider = kubernetes
        } else {
            provider = LocalProcessProvider(executable: executable, logDirectory: runtime)
            FileHandle.standardError.write(Data("starting \(topology.slots.count) workers (logs in \(runtime.path))\n".utf8))
        }
        let frontEnd = try ClusterFrontEnd(topology: topology, options: options, provider: provider)
        try await frontEnd.start()
        return frontEnd
    }
}
