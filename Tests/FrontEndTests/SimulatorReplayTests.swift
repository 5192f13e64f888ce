import Cluster
import CoreUtilities
import Engine
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import Simulator
import Synchronization
import Testing

/// One policy, two executors: a small trace replayed through the simulator and through the live
/// front end (real worker processes) takes the same routing decisions at every decision point —
/// the modality group's candidates, the prefill and decode instances, and each encode shard's
/// worker and images. Both are built from one topology (its slots are the simulator's deployment,
/// its policies the simulator's), and the simulator counts image tokens by the rule the model's
/// workers report. Requests are replayed one at a time, so each decision sees the same idle state
/// in both; decisions under concurrent load are not compared here.
@Suite(.serialized, .timeLimit(.minutes(4))) struct SimulatorReplayTests {
    static let llava = Support.repository.appendingPathComponent("fixtures/models/llava-tiny")
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

    final class Recorder: Sendable {
        let decisions = Mutex<[RoutingDecision]>([])
    }

    @Test func liveFrontEndTakesTheSimulatorsRoutingDecisions() async throws {
        let folder = Support.repository.appendingPathComponent("fixtures/images/good")
        let images = try Self.entries.map { entry in
            try entry.images.map { try ImageDecoder.decode(Data(contentsOf: folder.appendingPathComponent($0))) }
        }

        // Live: the topology's workers, one request at a time.
        let recorder = Recorder()
        let frontEnd = try await Support.frontEnd(Self.topology, model: Self.llava) { options in
            options.onRoutingDecision = { decision in recorder.decisions.withLock { $0.append(decision) } }
        }
        let tokenizer = frontEnd.servedModel.tokenizer
        var textTokens: [Int] = []
        for (entry, pictures) in zip(Self.entries, images) {
            let prompt: InferenceRequest.Prompt = pictures.isEmpty ? .tokens(entry.tokens) : .text(Self.prompt(pictures.count))
            textTokens.append(pictures.isEmpty ? entry.tokens.count : tokenizer.encode(Self.prompt(pictures.count)).count)
            _ = try await Support.collect(try frontEnd.submit(InferenceRequest(prompt: prompt, images: pictures, parameters: Support.greedy(4))))
            #expect(await Support.eventually { frontEnd.clusterStatus().allSatisfy { $0.queuedRequests == 0 } })
        }
        let live = recorder.decisions.withLock { $0 }
        await frontEnd.shutdown(gracePeriod: .seconds(1))

        // Simulated: the same slots and policies, requests far apart so each finds the cluster idle.
        let topology = try Support.topology(Self.topology)
        var system = SystemSpec(name: "replay", deployment: Deployment(slots: topology.slots.map { Deployment.Slot(role: $0.spec.role, group: $0.group, count: 1) }))
        system.policies = topology.policies
        var costModel = try CostModel.load(from: Support.repository.appendingPathComponent("examples/sim/costmodels/qwen2.5-vl-7b-a100.json"))
        var config = EngineConfig()
        config.kvCacheMemoryBytes = 8 << 20
        let engine = try LLMEngine(directory: Self.llava, config: config, parts: .visionEncoder)
        costModel.imageTokens = try #require(engine.imageTokenRule)
        await engine.shutdown(gracePeriod: .zero)
        let trace = Trace(requests: zip(images, textTokens).enumerated().map { i, request in
            TraceRequest(arrival: Double(i) * 1000, textTokens: request.1,
                         images: request.0.map { TraceImage(width: $0.width, height: $0.height, hash: $0.id.words.0) }, outputTokens: 4)
        })
        let simulated = try ClusterSimulator.routingDecisions(trace: trace, system: system, costModel: costModel, slo: SLOClasses.standard)

        #expect(simulated.count == live.count && simulated.count > Self.entries.count * 2)
        #expect(live == simulated, "live:\n\(live.map(\.description).joined(separator: "\n"))\nsimulated:\n\(simulated.map(\.description).joined(separator: "\n"))")
        // The decisions are not all alike: both groups served, and a request's images went to both encode workers.
        #expect(Set(live.filter { $0.stage == .prefill }.map(\.instance)).count == 2)
        #expect(live.contains { $0.request == 4 && $0.stage == .encode && $0.images.count == 2 })
        #expect(Set(live.filter { $0.stage == .encode }.map(\.instance)).count == 2)
    }
}
