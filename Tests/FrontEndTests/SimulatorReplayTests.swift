import Cluster
import CoreUtilities
import Engine
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import Simulator
import Synchronization
import TestFixtures
import Testing

/// One policy, two executors: a small trace replayed through the simulator and through the live
/// front end (real worker processes) takes the same routing decisions at every decision point —
/// the modality group's candidates, the prefill and decode instances, and each encode shard's
/// worker and images. Both are built from one topology (its slots are the simulator's deployment,
/// its policies the simulator's), and the simulator counts image tokens by the rule the model's
/// workers report. Requests are replayed one at a time, so each decision sees the same idle state
/// in both.
///
/// Batching decisions are compared on a queue: a worker that runs one request at a time
/// (`--max-num-seqs 1`, the simulator's decode batch 1) gets a blocker and then five requests of
/// different SLO classes and prompt lengths, all queued behind it; each later step admits the
/// request its batch policy puts first. Both executors record each admission and the queue it
/// leaves (the worker reports its scheduler's). The five are chosen so that FCFS, short-first and
/// SLO-ODBS admit them in three different orders, so an executor that ordered its queue by
/// another policy than the one it was given fails the comparison.
@Suite(.serialized, .timeLimit(.minutes(6))) struct SimulatorReplayTests {
    static let topology = """
        router: least-loaded
        encodeDispatcher: intra-request
        groups:
          - group: text
            workers:
              - {role: prefill, count: 1}
              - {role: decode, count: 1}
          - group: multimodal
            workers:
              - {role: encode, count: 2}
              - {role: prefill, count: 1}
              - {role: decode, count: 1}
        """

    /// The trace: text prompts (token ids) and image prompts (LLaVA's template, fixture images).
    struct Entry {
        var tokens: [Int]
        var images: [String]
    }

    static let entries = [
        Entry(tokens: [1, 450, 1483, 310, 1444, 338], images: []),
        Entry(tokens: [], images: ["gradient.png", "noisy.jpg", "tall.png"]),
        Entry(tokens: [], images: ["rgba.png"]),
        Entry(tokens: [1, 903, 501, 263, 931], images: []),
        Entry(tokens: [], images: ["gradient.png", "noisy.jpg", "tall.png", "gray.png"]),
        Entry(tokens: [], images: ["wide.jpg", "gray.png"]),
    ]

    static func prompt(_ images: Int) -> String {
        "USER: " + String(repeating: "<image>\n", count: images) + "What is shown here? ASSISTANT:"
    }

    @Test func liveFrontEndTakesTheSimulatorsRoutingDecisions() async throws {
        let images = try Self.entries.map { try Fixtures.images($0.images) }

        // Live: the topology's workers, one request at a time.
        let recorder = DecisionRecorder()
        let frontEnd = try await Support.frontEnd(Self.topology, model: Support.llava) { options in
            recorder.observe(&options)
        }
        let tokenizer = frontEnd.servedModel.tokenizer
        var textTokens: [Int] = []
        for (entry, pictures) in zip(Self.entries, images) {
            let prompt: InferenceRequest.Prompt = pictures.isEmpty ? .tokens(entry.tokens) : .text(Self.prompt(pictures.count))
            textTokens.append(pictures.isEmpty ? entry.tokens.count : tokenizer.encode(Self.prompt(pictures.count)).count)
            _ = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: prompt, images: pictures, parameters: Fixtures.greedy(4))))
            #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.queuedRequests == 0 } })
        }
        let live = recorder.decisions.withLock { $0 }
        await frontEnd.shutdown(gracePeriod: .seconds(1))

        // Simulated: the same slots and policies, requests far apart so each finds the cluster idle.
        let system = try Support.simulatedSystem(Self.topology)
        var costModel = try Support.replayCostModel()
        var config = EngineConfig()
        config.kvCacheMemoryBytes = 8 << 20
        let engine = try LLMEngine(directory: Support.llava, config: config, parts: .visionEncoder)
        costModel.imageTokens = try #require(engine.imageTokenRule)
        await engine.shutdown(gracePeriod: .zero)
        let trace = Trace(requests: zip(images, textTokens).enumerated().map { i, request in
            TraceRequest(arrival: Double(i) * 1000, textTokens: request.1,
                         images: request.0.map { TraceImage(width: $0.width, height: $0.height, hash: $0.id.words.0) }, outputTokens: 4)
        })
        let simulated = try ClusterSimulator.decisions(trace: trace, system: system, costModel: costModel, slo: SLOClasses.standard).routing

        #expect(simulated.count == live.count && simulated.count > Self.entries.count * 2)
        #expect(live == simulated, "live:\n\(live.map(\.description).joined(separator: "\n"))\nsimulated:\n\(simulated.map(\.description).joined(separator: "\n"))")
        // The decisions are not all alike: both groups served, and a request's images went to both encode workers.
        #expect(Set(live.filter { $0.stage == .prefill }.map(\.instance)).count == 2)
        #expect(live.contains { $0.request == 4 && $0.stage == .encode && $0.images.count == 2 })
        #expect(Set(live.filter { $0.stage == .encode }.map(\.instance)).count == 2)
    }

    /// The queued requests: (SLO class, prompt tokens). TTFT objectives 60, 1, 20, 5 and 2 s.
    static let queued: [(sloClass: String, tokens: Int)] = [("c60", 12), ("c1", 300), ("c20", 60), ("c5", 16), ("c2", 200)]
    static let classes = ["blocker=0.01", "c1=1", "c2=2", "c5=5", "c20=20", "c60=60"]

    /// Admissions, in order, of a worker running `batcher` one request at a time over the blocker
    /// (request 0) and `queued` (1…5); nil when the blocker ended before all were queued behind it.
    func liveAdmissions(_ batcher: String) async throws -> (routing: [RoutingDecision], batching: [BatchDecision])? {
        let recorder = DecisionRecorder()
        let frontEnd = try await Support.frontEnd(Support.monoWorkers(batcher: batcher), model: Support.repository.appendingPathComponent("fixtures/models/llama-sp")) { options in
            options.workerArguments += ["--max-num-seqs", "1"] + Self.classes.flatMap { ["--slo-class", $0] }
            options.sloClasses = try! SLOClasses(definitions: Self.classes)
            recorder.observe(&options)
        }
        let order = try await Support.startOrder(frontEnd, Self.queued.enumerated().map { i, request in
            let prompt = [1] + (1 ..< request.tokens).map { (i * 389 + $0 * 7) % 1400 + 20 }
            return InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(4), sloClass: request.sloClass)
        })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        guard order != nil else { return nil }
        // The worker's own decisions (the order of first tokens at the client need not be theirs: the streams are read concurrently).
        return (recorder.decisions.withLock { $0 }, recorder.batches.withLock { $0 })
    }

    /// The same requests in the simulator: one monolithic instance that runs one request at a
    /// time, the blocker long enough that the five arrive (1 ms apart) while it runs.
    static func simulatedAdmissions(_ batcher: String) throws -> (routing: [RoutingDecision], batching: [BatchDecision]) {
        let system = try Support.simulatedSystem(Support.monoWorkers(batcher: batcher))
        var costModel = try Support.replayCostModel()
        costModel.decode.maxBatch = 1
        let trace = Trace(requests: [TraceRequest(arrival: 0, textTokens: 2, images: [], outputTokens: 500, sloClass: "blocker")]
            + queued.enumerated().map { i, request in
                TraceRequest(arrival: 0.001 * Double(i + 1), textTokens: request.tokens, images: [], outputTokens: 4, sloClass: request.sloClass)
            })
        return try ClusterSimulator.decisions(trace: trace, system: system, costModel: costModel, slo: SLOClasses(definitions: classes))
    }

    @Test(arguments: ["slo-short-first", "slo-ordered"])
    func liveWorkersTakeTheSimulatorsBatchingDecisions(batcher: String) async throws {
        var live: (routing: [RoutingDecision], batching: [BatchDecision])?
        for _ in 0 ..< 4 where live == nil { live = try await liveAdmissions(batcher) }
        let observed = try #require(live, "the blocker always finished before every request was queued")
        let simulated = try Self.simulatedAdmissions(batcher)
        // The five are submitted together, so they may be routed in any order; each one's choice must be the simulator's.
        #expect(observed.routing.sorted { $0.request < $1.request } == simulated.routing)
        #expect(observed.batching == simulated.batching,
                "live:\n\(observed.batching.map(\.description).joined(separator: "\n"))\nsimulated:\n\(simulated.batching.map(\.description).joined(separator: "\n"))")
        #expect(simulated.batching.count == Self.queued.count + 1)
        // Another policy in either executor would not match: the three policies order the queue differently.
        for other in ["fcfs", "slo-short-first", "slo-ordered"] where other != batcher {
            #expect(try Self.simulatedAdmissions(other).batching != observed.batching)
        }
    }
}
