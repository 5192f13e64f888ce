import Cluster
import Engine
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import Simulator
import Synchronization
import TestFixtures
import Testing

/// What a live front end reports as it runs: its routing decisions and its workers' batching
/// decisions, in the order taken (the simulator's terms, for replays to compare).
final class DecisionRecorder: Sendable {
    let decisions = Mutex<[RoutingDecision]>([])
    let batches = Mutex<[BatchDecision]>([])

    func observe(_ options: inout FrontEndOptions) {
        options.onRoutingDecision = { decision in self.decisions.withLock { $0.append(decision) } }
        options.onBatchDecision = { decision in self.batches.withLock { $0.append(decision) } }
    }
}

/// Starting front ends with real worker processes of the built `tessera` executable.
enum Support {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = repository.appendingPathComponent("fixtures/models/llama-gqa")
    static let llava = repository.appendingPathComponent("fixtures/models/llava-tiny")

    /// One of a model fixture's reference prompts (reference.json): its text and images as a greedy
    /// request for as many tokens as transformers generated, and those tokens.
    struct ReferencePrompt {
        let imageNames: [String]
        let request: InferenceRequest
        let expected: [Int]
    }

    static func referencePrompts(_ model: URL) throws -> [ReferencePrompt] {
        try Fixtures.reference(model.lastPathComponent).prompts.map { prompt in
            let request = InferenceRequest(prompt: .text(prompt.text), images: try Fixtures.images(prompt.images),
                                           parameters: Fixtures.greedy(prompt.greedy_token_ids.count))
            return ReferencePrompt(imageNames: prompt.images, request: request, expected: prompt.greedy_token_ids)
        }
    }

    /// The `tessera` executable next to the test bundle (SwiftPM builds both into one folder).
    static var executable: URL {
        get throws {
            let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            for candidate in [bin.appendingPathComponent("tessera"), bin.deletingLastPathComponent().appendingPathComponent("tessera")]
            where FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
            throw SupportError("the tessera executable is not built next to the tests (\(bin.path)); run `swift build` first")
        }
    }

    struct SupportError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A started front end over the topology given as YAML text, as `prepare` turns it (`tessera
    /// serve` applies a profile there); `configure` adjusts its options.
    static func frontEnd(_ yaml: String, maxQueuedRequests: Int = 256, model: URL = model,
                         configure: (inout FrontEndOptions) -> Void = { _ in },
                         prepare: (Topology) throws -> Topology = { $0 },
                         provider wrap: (LocalProcessProvider) -> any InstanceProvider = { $0 }) async throws -> ClusterFrontEnd {
        let runtime = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-fe-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true)
        var options = FrontEndOptions(modelDirectory: model, runtimeDirectory: runtime)
        options.maxQueuedRequests = maxQueuedRequests
        options.removeRuntimeDirectory = true
        options.workerArguments = ["--kv-cache-memory", "32", "--threads", "1"]
        options.startupTimeout = .seconds(60)
        configure(&options)
        let frontEnd = try ClusterFrontEnd(
            topology: try prepare(try topology(yaml, in: runtime)), options: options,
            provider: wrap(LocalProcessProvider(executable: try executable, logDirectory: runtime)))
        try await frontEnd.start()
        return frontEnd
    }

    /// The command line of the running worker process of `role` (empty when none runs): what the
    /// front end passed it from the topology.
    static func workerArguments(_ frontEnd: ClusterFrontEnd, role: InstanceRole) -> [String] {
        let worker = frontEnd.clusterStatus().first { $0.role == role }.flatMap { frontEnd.workerProcessId(slot: $0.id) }
        return worker.flatMap { try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8) }?
            .split(separator: "\0").map(String.init) ?? []
    }

    /// A front end whose instance provider `wrap` makes around the local one, returned with it (a
    /// provider that records or changes what the front end asks of it).
    static func frontEnd<Provider: InstanceProvider>(
        _ yaml: String, wrappedBy wrap: (LocalProcessProvider) -> Provider
    ) async throws -> (ClusterFrontEnd, Provider) {
        var made: Provider?
        let frontEnd = try await frontEnd(yaml, provider: { local in
            let provider = wrap(local)
            made = provider
            return provider
        })
        return (frontEnd, try #require(made))
    }

    /// The topology given as YAML text, as `tessera serve --topology` reads it (the file goes in `folder`).
    static func topology(_ yaml: String, in folder: URL = FileManager.default.temporaryDirectory) throws -> Topology {
        let file = folder.appendingPathComponent("topology-\(UUID().uuidString.prefix(8)).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try Topology(contentsOf: file)
    }

    /// A topology of `count` monolithic workers whose schedulers order their queues by `batcher`,
    /// with heartbeats every 20 ms (YAML, for the live front end and ``simulatedSystem(_:)`` alike).
    static func monoWorkers(_ count: Int = 1, batcher: String) -> String {
        "batcher: \(batcher)\nheartbeat_interval_ms: 20\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: \(count)}"
    }

    /// The simulator's system for a topology given as YAML: each of its slots one instance, its policies.
    static func simulatedSystem(_ yaml: String) throws -> SystemSpec {
        let topology = try topology(yaml)
        var system = SystemSpec(name: "replay", deployment: Deployment(slots: topology.slots.map { Deployment.Slot(role: $0.spec.role, group: $0.group, count: 1) }))
        system.policies = topology.policies
        return system
    }

    /// The cost model the replays simulate with (only the policies' decisions are compared, not times).
    static func replayCostModel() throws -> CostModel {
        try CostModel.load(from: repository.appendingPathComponent("examples/sim/costmodels/qwen2.5-vl-7b-a100.json"))
    }

    /// What the single-process engine generates for the same requests.
    static func singleProcess(_ prompts: [[Int]], tokens: Int, model: URL = model) async throws -> [[Int]] {
        var config = EngineConfig()
        config.kvCacheMemoryBytes = 32 << 20
        let engine = try LLMEngine(directory: model, config: config)
        var outputs: [[Int]] = []
        do {
            for prompt in prompts {
                outputs.append(try await Fixtures.collect(try engine.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(tokens)))).ids)
            }
        } catch {
            await engine.shutdown(gracePeriod: .zero)
            throw error
        }
        await engine.shutdown(gracePeriod: .zero)
        return outputs
    }

    /// The greedy outputs of `prompts` submitted all at once, in prompt order; `meanwhile` runs
    /// while they are in flight.
    static func concurrently(_ prompts: [[Int]], tokens: Int, on engine: some InferenceEngine,
                             meanwhile: () async throws -> Void = {}) async throws -> [[Int]] {
        try await concurrently(prompts.map { InferenceRequest(prompt: .tokens($0), parameters: Fixtures.greedy(tokens)) }, on: engine, meanwhile: meanwhile)
    }

    /// The output tokens of `requests` submitted all at once, in request order; `meanwhile` runs
    /// while they are in flight (to stop, kill or move workers under them).
    static func concurrently(_ requests: [InferenceRequest], on engine: some InferenceEngine,
                             meanwhile: () async throws -> Void = {}) async throws -> [[Int]] {
        try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (i, request) in requests.enumerated() {
                group.addTask { (i, try await Fixtures.collect(try engine.submit(request)).ids) }
            }
            try await meanwhile()
            var result = Array(repeating: [Int](), count: requests.count)
            for try await (i, ids) in group { result[i] = ids }
            return result
        }
    }

    /// Queues `requests` together behind a blocker on a topology's one worker that runs one
    /// request at a time (`--max-num-seqs 1`; the blocker's SLO class `blocker` must come first
    /// under the worker's policy; heartbeats every 20 ms): submits the blocker, then the requests
    /// once it streams, cancels it once the worker's heartbeat reports all of them waiting, and returns the indices of `requests` in the order their
    /// first tokens came, which is the order the worker's batch policy admitted them. Nil when the
    /// blocker finished by itself before that (a loaded machine), so the order says nothing.
    static func startOrder(_ frontEnd: ClusterFrontEnd, _ requests: [InferenceRequest]) async throws -> [Int]? {
        final class Shared: Sendable {
            let streaming = Mutex(false)
            let order = Mutex<[Int]>([])
        }
        let shared = Shared()
        let blocker = try frontEnd.submit(InferenceRequest(
            prompt: .tokens([1, 7]), parameters: Fixtures.greedy(frontEnd.servedModel.contextLength - 8), sloClass: "blocker"))
        let blocking = Task { () -> FinishReason? in
            var reason: FinishReason?
            do {
                for try await event in blocker {
                    shared.streaming.withLock { $0 = true }
                    if case let .finished(info) = event { reason = info.reason }
                }
            } catch is CancellationError {}  // cancelled below, as intended
            return reason
        }
        _ = await Fixtures.eventually { shared.streaming.withLock { $0 } }
        let streams = try requests.map { try frontEnd.submit($0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, stream) in streams.enumerated() {
                group.addTask { _ = try await Fixtures.collect(stream) { n in if n == 1 { shared.order.withLock { $0.append(i) } } } }
            }
            // Waiting: those the worker reports queued plus those the front end has seen no token of.
            _ = await Fixtures.eventually { frontEnd.statistics().waitingRequests >= 2 * requests.count }
            blocking.cancel()
            try await group.waitForAll()
        }
        guard try await blocking.value == nil else { return nil }
        return shared.order.withLock { $0 }
    }

    /// Token-id prompts of several lengths (one of a single token, which skips the prefill stage).
    static let prompts: [[Int]] = [
        [1, 450, 1483, 310, 1444, 338], [1, 903, 501, 263, 931], [1, 29, 1896, 871, 1906, 71, 1941],
        Array(1 ... 40).map { $0 * 37 % 2000 + 3 }, [1], [1, 306, 763, 304, 1203, 1623, 278, 1952],
    ]
}

extension ClusterFrontEnd {
    /// The slot of the first worker of `role`.
    func slot(of role: InstanceRole) throws -> Int {
        try #require(clusterStatus().first { $0.role == role }?.id)
    }
}
