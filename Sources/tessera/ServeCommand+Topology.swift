import ArgumentParser
import Cluster
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
        if let control { topology.control = control }
        let costModel = try profile.map { try CostModel.load(from: URL(fileURLWithPath: $0)) }
        if let costModel { topology.capacity = costModel.servingCapacity() }
        let sloClasses = try scheduling.classes() ?? SLOClasses.standard
        // EPD's configuration search: the multimodal group's split, simulated on the profile.
        if topology.optimizeSplit != nil {
            guard let costModel else { throw ValidationError("the topology's optimizeSplit simulates its candidates on a cost model: add --profile FILE (`tessera profile` output)") }
            let directory = URL(fileURLWithPath: topologyPath).deletingLastPathComponent()
            if let optimized = try topology.optimizingSplit(costModel: costModel, slo: sloClasses, baseDirectory: directory) {
                topology = optimized.topology
                let chosen = optimized.chosen, c = chosen.candidate
                FileHandle.standardError.write(Data("optimizeSplit chose E\(c.encode)/P\(c.prefill)/D\(c.decode), prefill batch ≤ \(c.maxBatch) (simulated goodput \(chosen.goodput) req/s)\n".utf8))
            }
        }
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
        options.sloClasses = sloClasses
        let servesImages = topology.groups.contains { $0.group == .image }
        if servesImages != (imageModel != nil) {
            throw ValidationError(servesImages ? "the topology has an image group: give its model with --image-model DIR"
                                               : "with --topology, --image-model is served by the topology's image group; add one (- group: image, workers: [{role: image, count: 1}])")
        }
        options.imageModelDirectory = imageModel.map { URL(fileURLWithPath: $0).standardizedFileURL }
        // Add-ons given here go to the whole image pool; a worker entry's `arguments` add its own.
        options.imageWorkerArguments = imageLimits.arguments + adapters.arguments
        options.controlNetWorkerArguments = adapters.controlNets.flatMap { ["--controlnet", $0] } + adapters.directories.flatMap { ["--adapter-dir", $0] }
            + ["--adapter-cache-eviction", adapters.eviction.rawValue]
        if topology.groups.contains(where: { $0.workers.contains { $0.pipeline != nil } }) {
            options.placementUnits = try PipelineStage.placementUnits(directory: model)
        }
        // The workers load the predictor from its path too; one they could not load is refused here.
        options.outputLengthPredictor = try scheduling.predictor()
        options.workerArguments = kvCache.arguments + ["--widened-weight-memory", String(modelOptions.widenedWeightMemoryMiB)]
            + step.arguments + (modelOptions.threads.map { ["--threads", String($0)] } ?? []) + scheduling.workerArguments
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        let provider: any InstanceProvider
        if let settings = try KubernetesSettings.placement(contentsOf: URL(fileURLWithPath: topologyPath)) {
            let client = try KubernetesClient(try KubernetesConfig.load())
            if let lease = settings.leaderLease { await lead(lease, settings: settings, client: client) }
            let kubernetes = KubernetesInstanceProvider(settings: settings, client: client)
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

    /// Returns once this replica holds the Lease `lease`: of several front ends only the holder
    /// starts workers, runs the planners and writes `/scale`; the others wait here (their `/health`
    /// says loading, so their Service sends them nothing). A leader that loses the lease (its
    /// renewals failed for the renew deadline) exits, as Kubernetes' own controllers do, and its pod
    /// restarts as a follower; a follower takes an expired lease over within the lease duration.
    private func lead(_ lease: String, settings: KubernetesSettings, client: KubernetesClient) async {
        let environment = ProcessInfo.processInfo.environment
        let identity = environment["TESSERA_POD_NAME"] ?? ProcessInfo.processInfo.hostName
        let election = LeaseElection(name: lease, namespace: settings.namespace ?? client.config.namespace, identity: identity,
                                     leaseDuration: .seconds(settings.leaseDurationSeconds ?? 15))
        let elector = LeaderElector(client: client, election: election)
        let (leading, leadingContinuation) = AsyncStream<Void>.makeStream()
        Task { await elector.run() }
        Task {
            var led = false
            for await change in elector.leadership {
                if change {
                    led = true
                    leadingContinuation.yield()
                } else if led {
                    FileHandle.standardError.write(Data("lost the lease \(lease); exiting so that another front end leads\n".utf8))
                    Foundation.exit(1)
                }
            }
        }
        FileHandle.standardError.write(Data("\(identity) waiting to hold the lease \(lease)\n".utf8))
        for await _ in leading { break }
        FileHandle.standardError.write(Data("\(identity) holds the lease \(lease): starting the workers\n".utf8))
    }
}
