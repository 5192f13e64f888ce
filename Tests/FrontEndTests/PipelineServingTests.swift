import Cluster
import Engine
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import Simulator
import TestFixtures
import Testing

/// Layer-split (pipeline-parallel) workers: HELR's ``LayerPlacement`` splits the model over worker
/// processes by their memory budgets; the tokens are the single-process engine's (text) or
/// transformers' (images), and no KV stays allocated after the requests.
///
/// Later stages index their KV by the first stage's block tables (its scheduler owns allocation
/// for the whole pipeline), so the first stage's empty block pool means every stage's KV is free.
@Suite(.serialized, .timeLimit(.minutes(4))) struct PipelineServingTests {
    /// Memory budgets as shares of the model's weights: 0.55 fits half of a 2-layer fixture
    /// (embedding + layer 0 | layer 1 + head), 0.4 only a third (embedding | layers | head).
    static func yaml(group: String, stages: Int, share: Double, model: URL, transfer: String = "shm") throws -> String {
        let total = try PipelineStage.placementUnits(directory: model).reduce(0) { $0 + $1.memoryBytes } / 1_048_576
        let stage = "{memory_mib: \(total * share)}"
        return "transfer: \(transfer)\ngroups:\n  - group: \(group)\n    workers:\n      - role: mono\n        count: 1\n"
            + "        pipeline: [\(Array(repeating: stage, count: stages).joined(separator: ", "))]\n"
    }

    static func frontEnd(_ yaml: String, model: URL) async throws -> ClusterFrontEnd {
        try await Support.frontEnd(yaml, model: model) { $0.placementUnits = try? PipelineStage.placementUnits(directory: model) }
    }

    @Test(arguments: [(2, 0.55, "shm"), (3, 0.4, "shm"), (2, 0.55, "tcp")])
    func textThroughStagesEqualsTheSingleProcessEngine(stages: Int, share: Double, transfer: String) async throws {
        let frontEnd = try await Self.frontEnd(try Self.yaml(group: "text", stages: stages, share: share, model: Support.model, transfer: transfer),
                                               model: Support.model)
        let plan = try #require(frontEnd.pipelinePlan(slot: 0))
        #expect(plan.blocks.count == stages)
        #expect(plan.blocks.first?.layers.lowerBound == 0 && plan.blocks.last?.layers.upperBound == 4)
        // The simulator plans the same split from the same model and budgets (llama-gqa: 2 layers,
        // 4 query and 2 KV heads of 32 dims; the topology's default speed and link).
        let shape = PipelineSplit.DecoderShape(layers: 2, hiddenSize: 64, intermediateSize: 160, vocabSize: 2009, queryWidth: 128, kvWidth: 64)
        let units = try PipelineStage.placementUnits(directory: Support.model)
        #expect(PipelineSplit.units(of: shape) == units)
        let budget = units.reduce(0) { $0 + $1.memoryBytes } / 1_048_576 * share * 1_048_576
        let stage = PipelineSplit.Stage(memoryBytes: budget, flopsPerSecond: 1e9, linkBytesPerSecond: transfer == "tcp" ? 1e9 : 1e10)
        let simulated = SystemSpec.Pipeline(model: shape, stages: Array(repeating: stage, count: stages), referenceFlopsPerSecond: 1e9)
        #expect(try simulated.split.plan() == plan)
        let expected = try await Support.singleProcess(Support.prompts, tokens: 12)
        // Concurrently, so the stages run batches of several sequences.
        let outputs = try await Support.concurrently(Support.prompts, tokens: 12, on: frontEnd)
        #expect(outputs == expected)
        // One after another, each request's KV is freed before the next.
        for prompt in Support.prompts.prefix(3) {
            #expect(try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(5)))).ids.count == 5)
            #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.kvUsedTokens == 0 } && frontEnd.statistics().runningRequests == 0 })
        }
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// LLaVA and Qwen2-VL (M-RoPE positions go to every stage) image prompts through 2 and 3 stages.
    @Test(arguments: [("llava-tiny", 2, 0.55), ("llava-tiny", 3, 0.4), ("qwen2-vl-tiny", 2, 0.55), ("qwen2-vl-tiny", 3, 0.4)])
    func imagePromptsThroughStagesMatchTransformers(fixture: String, stages: Int, share: Double) async throws {
        let model = Support.repository.appendingPathComponent("fixtures/models/\(fixture)")
        let frontEnd = try await Self.frontEnd(try Self.yaml(group: "multimodal", stages: stages, share: share, model: model), model: model)
        #expect(frontEnd.pipelinePlan(slot: 0)?.blocks.count == stages)
        for prompt in try Support.referencePrompts(model) {
            #expect(try await Fixtures.collect(try frontEnd.submit(prompt.request)).ids == prompt.expected, "\(prompt.imageNames)")
            #expect(await Fixtures.eventually { frontEnd.clusterStatus().allSatisfy { $0.kvUsedTokens == 0 } })
        }
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// A later stage that dies takes its pipeline down: the front end relaunches every stage and
    /// the worker serves again.
    @Test func aLostStageRelaunchesThePipeline() async throws {
        let frontEnd = try await Self.frontEnd(try Self.yaml(group: "text", stages: 2, share: 0.55, model: Support.model), model: Support.model)
        let prompt = Support.prompts[0]
        let expected = try await Support.singleProcess([prompt], tokens: 6)
        #expect(try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(6)))).ids == expected[0])
        let stage = try #require(Self.stageProcess(slot: 0, stage: 1))
        kill(stage, SIGKILL)
        #expect(await Fixtures.eventually(30) { frontEnd.restarts(slot: 0) == 1 && frontEnd.clusterStatus().contains { $0.id == 0 && $0.isActive } })
        #expect(try await Fixtures.collect(try frontEnd.submit(InferenceRequest(prompt: .tokens(prompt), parameters: Fixtures.greedy(6)))).ids == expected[0])
        await frontEnd.shutdown(gracePeriod: .seconds(1))
    }

    /// This process's child running `pipeline-stage` for the slot's stage, found by its arguments.
    static func stageProcess(slot: Int, stage: Int) -> Int32? {
        let me = ProcessInfo.processInfo.processIdentifier
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).first { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let parent = stat.split(separator: ")").last?.split(separator: " ").dropFirst(1).first, Int32(parent) == me,
                  let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { return false }
            return command.contains("pipeline-stage") && command.contains("stage-\(slot)-\(stage).sock")
        }
    }
}
