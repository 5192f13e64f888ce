import Cluster
import Foundation
import FrontEnd
import Imaging
import ServingAPI
import Simulator
import Synchronization
import TestFixtures
import Testing

/// EPD's configuration search run live: a topology's `optimizeSplit` picks the split that
/// `tessera simulate` picks for a system with the same workload, cost model, SLO and policies
/// (one policy, two executors), and the front end launches pools of those sizes, its prefill
/// workers at the chosen batch limit, and serves through them.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SplitOptimizationTests {
    static let costModel = Support.repository.appendingPathComponent("examples/sim/costmodels/qwen2.5-vl-7b-a100.json")
    /// Image-heavy requests: encoding dominates, so the search moves workers off the written split.
    static let workload = #"{"synthetic": {"durationSeconds": 60, "ratePerSecond": 3, "multimodalFraction": 1, "minImages": 4, "maxImages": 4, "seed": 2}}"#
    static let slo = #"{"classes": {"standard": {"ttft": 1.5, "tpot": 0.05}}}"#
    static let topology = """
        router: least-pending-image-tokens
        encodeDispatcher: least-pending-image-tokens
        optimizeSplit: {batchLimits: [1, 4], workload: \(workload)}
        groups:
          - {group: multimodal, workers: [{role: encode, count: 1}, {role: prefill, count: 1}, {role: decode, count: 2}]}
        """

    /// The starts asked of a local process provider.
    final class RecordingProvider: InstanceProvider {
        let local: LocalProcessProvider
        let started = Mutex<[InstanceSpec]>([])

        init(_ local: LocalProcessProvider) { self.local = local }

        func start(_ instance: InstanceSpec) throws(FrontEndError) -> InstanceHandle {
            started.withLock { $0.append(instance) }
            return try local.start(instance)
        }

        func stop(_ handle: InstanceHandle, force: Bool) { local.stop(handle, force: force) }
        func isAlive(_ handle: InstanceHandle) -> Bool { local.isAlive(handle) }
    }

    final class Recorder: Sendable {
        let provider = Mutex<RecordingProvider?>(nil)
    }

    /// The value of the last `--max-num-seqs` in `arguments` (the one the worker's parser keeps).
    static func maxNumSeqs(_ arguments: [String]) -> Int? {
        guard let flag = arguments.lastIndex(of: "--max-num-seqs"), flag + 1 < arguments.count else { return nil }
        return Int(arguments[flag + 1])
    }

    @Test func liveSplitIsTheSimulatorsAndItsPoolsLaunch() async throws {
        // `tessera simulate`: the same system as a simulation config.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("split-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: Self.costModel, to: folder.appendingPathComponent("cost.json"))
        let config = folder.appendingPathComponent("experiment.json")
        try Data("""
            {"name": "split", "costModel": "cost.json", "trace": \(Self.workload), "slo": \(Self.slo),
             "systems": [{"name": "epd", "router": "least-pending-image-tokens", "encodeDispatcher": "least-pending-image-tokens",
                          "firstTokenOnDecode": true, "optimizeSplit": {"batchLimits": [1, 4]},
                          "deployment": {"slots": [{"role": "encode", "group": "multimodal", "count": 1},
                                                   {"role": "prefill", "group": "multimodal", "count": 1},
                                                   {"role": "decode", "group": "multimodal", "count": 2}]}}]}
            """.utf8).write(to: config)
        let report = try ExperimentRunner.run(config: SimulationConfig.load(from: config), baseDirectory: folder)
        let simulated = try #require(report.optimizedSplits["epd"])

        // Live: `tessera serve --topology … --profile cost.json` with the same SLO.
        let slo = try JSONDecoder().decode(SLOClasses.self, from: Data(Self.slo.utf8))
        let written = try Support.topology(Self.topology)
        let cost = try CostModel.load(from: Self.costModel)
        let (_, chosen) = try #require(try written.optimizingSplit(costModel: cost, slo: slo, baseDirectory: folder))
        #expect(chosen.candidate == simulated)
        #expect(chosen.candidate.instances == 4)
        // The search changed the written split (E1/P1/D2), so the launch below shows it applied.
        #expect([chosen.candidate.encode, chosen.candidate.prefill, chosen.candidate.decode] != [1, 1, 2])

        let recorder = Recorder()
        let frontEnd = try await Support.frontEnd(Self.topology, model: Support.llava, prepare: { try #require(try $0.optimizingSplit(costModel: cost, slo: slo, baseDirectory: folder)).topology },
                                                  provider: { local in
            let provider = RecordingProvider(local)
            recorder.provider.withLock { $0 = provider }
            return provider
        })
        #expect(frontEnd.topology.chosenSplit == chosen.candidate)
        let status = frontEnd.clusterStatus()
        #expect(status.filter { $0.role == .encode && $0.isActive }.count == chosen.candidate.encode)
        #expect(status.filter { $0.role == .prefill && $0.isActive }.count == chosen.candidate.prefill)
        #expect(status.filter { $0.role == .decode && $0.isActive }.count == chosen.candidate.decode)
        let started = try #require(recorder.provider.withLock { $0 }).started.withLock { $0 }
        #expect(started.filter { $0.role == .prefill }.allSatisfy { Self.maxNumSeqs($0.arguments) == chosen.candidate.maxBatch })
        #expect(started.filter { $0.role != .prefill }.allSatisfy { Self.maxNumSeqs($0.arguments) == nil })

        // The launched split serves an image request.
        let image = try Fixtures.images(["gradient.png"])[0]
        let tokens = try await Fixtures.collect(try frontEnd.submit(InferenceRequest(
            prompt: .text("USER: <image>\nWhat is shown here? ASSISTANT:"), images: [image], parameters: Fixtures.greedy(4))))
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        #expect(tokens.ids.count == 4)
    }

    @Test func splitOptimizationNeedsOneMultimodalEPDGroup() throws {
        #expect(throws: FrontEndError.self) {
            try Support.topology("""
                optimizeSplit: {batchLimits: [4], workload: {synthetic: {durationSeconds: 10}}}
                groups:
                  - group: text
                    workers: [{role: mono, count: 3}]
                """)
        }
        #expect(throws: FrontEndError.self) {
            try Support.topology("""
                optimizeSplit: {batchLimits: [], workload: {synthetic: {durationSeconds: 10}}}
                groups:
                  - group: multimodal
                    workers: [{role: encode, count: 1}, {role: prefill, count: 1}, {role: decode, count: 1}]
                """)
        }
        #expect(throws: FrontEndError.self) {
            try Support.topology("""
                optimizeSplit: {batchLimits: [4], instance: 4, workload: {synthetic: {durationSeconds: 10}}}
                groups:
                  - group: multimodal
                    workers: [{role: encode, count: 1}, {role: prefill, count: 1}, {role: decode, count: 1}]
                """)
        }
    }
}
