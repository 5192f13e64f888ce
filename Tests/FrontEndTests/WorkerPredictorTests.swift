import Cluster
import Foundation
import FrontEnd
import ServingAPI
import TestFixtures
import Testing

/// `tessera serve --topology --output-length-predictor FILE` hands the predictor to every worker
/// (`tessera worker --output-length-predictor`), whose batch policy then orders by predicted
/// output lengths: under SLO-ODBS, of two requests of one class queued behind a blocker on a
/// worker that runs one request at a time, the one predicted shorter starts first; without the
/// predictor both count as their max_tokens and arrival order stands.
@Suite(.serialized, .timeLimit(.minutes(4))) struct WorkerPredictorTests {
    static let topology = "batcher: slo-ordered\nheartbeat_interval_ms: 20\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}"

    /// A predictor that tells essays (30 tokens) from yes/no answers (2 tokens).
    static func predictorFile() throws -> URL {
        let samples = (0 ..< 40).map { i in
            i % 2 == 0 ? OutputLengthPredictor.Sample(prompt: "write a long essay \(i)", promptTokens: 6, outputTokens: 30)
                : OutputLengthPredictor.Sample(prompt: "answer yes or no \(i)", promptTokens: 6, outputTokens: 2)
        }
        var options = OutputLengthPredictor.TrainingOptions()
        options.classBounds = [4, 16]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("predictor-\(UUID().uuidString.prefix(8)).json")
        try JSONEncoder().encode(try OutputLengthPredictor.train(samples: samples, options: options)).write(to: file)
        return file
    }

    /// Which of the two requests the worker admitted first; nil when the run says nothing.
    func startOrder(predictor: URL?) async throws -> [String]? {
        let frontEnd = try await Support.frontEnd(Self.topology, model: Support.repository.appendingPathComponent("fixtures/models/llama-sp")) { options in
            options.workerArguments += ["--max-num-seqs", "1", "--slo-class", "relaxed=30", "--slo-class", "tight=0.5", "--slo-class", "blocker=0.01"]
                + (predictor.map { ["--output-length-predictor", $0.path] } ?? [])
            options.sloClasses = try! SLOClasses(definitions: ["relaxed=30", "tight=0.5", "blocker=0.01"])
        }
        let labels = ["essay", "yes-no"]
        let order = try await Support.startOrder(frontEnd, ["write a long essay please", "answer yes or no please"].map {
            InferenceRequest(prompt: .text($0), parameters: Fixtures.greedy(48), sloClass: "tight")
        })
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        return order?.map { labels[$0] }
    }

    func repeated(predictor: URL?) async throws -> [String] {
        for _ in 0 ..< 4 {
            if let order = try await startOrder(predictor: predictor) { return order }
        }
        Issue.record("the blocker always finished before both requests were queued")
        return []
    }

    @Test func thePredictorReachesTheWorkersBatchPolicy() async throws {
        let file = try Self.predictorFile()
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try await repeated(predictor: file) == ["yes-no", "essay"])
        #expect(try await repeated(predictor: nil) == ["essay", "yes-no"])
    }
}
