import Foundation
import Imaging
import Testing

@testable import Bench

@Suite struct BenchTests {
    struct Reference: Decodable {
        var seconds: [Double]
        var mean, median, p99, std: Double
    }

    @Test func latencySummariesMatchNumpy() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Reference/bench_stats.json")
        let references = try JSONDecoder().decode([String: Reference].self, from: Data(contentsOf: url))
        #expect(references.count == 3)
        for (name, reference) in references {
            let summary = LatencySummary(seconds: reference.seconds)
            for (got, want) in [(summary.mean, reference.mean), (summary.median, reference.median), (summary.p99, reference.p99), (summary.std, reference.std)] {
                #expect(abs(got - want) < 1e-9 * max(1, abs(want)), "\(name)")
            }
        }
    }

    @Test func arrivalGapsHaveTheRequestedRateAndBurstiness() {
        for burstiness in [0.5, 1.0, 4.0] {
            var schedule = ArrivalSchedule(rate: 10, burstiness: burstiness, seed: 3)
            let gaps = (0..<40_000).map { _ in schedule.nextGap() }
            let mean = gaps.reduce(0, +) / Double(gaps.count)
            let variance = gaps.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(gaps.count)
            // Gamma(k, θ = 1 / (rate k)): mean 1 / rate, variance 1 / (rate² k).
            #expect(abs(mean - 0.1) < 0.003)
            #expect(abs(variance - 0.01 / burstiness) < 0.06 * 0.01 / burstiness)
        }
        var same = ArrivalSchedule(rate: 10, burstiness: 1, seed: 3)
        var other = ArrivalSchedule(rate: 10, burstiness: 1, seed: 3)
        #expect((0..<5).map { _ in same.nextGap() } == (0..<5).map { _ in other.nextGap() })
        var burst = ArrivalSchedule(rate: .infinity, burstiness: 1, seed: 0)
        #expect(burst.nextGap() == 0)
    }

    @Test func randomImagesDecodeAndReuseRepeatsThem() throws {
        let dataset = BenchDataset(
            kind: .randomMultimodal, count: 20, inputTokens: 8, outputTokens: 4, imagesPerRequest: 2, imageWidth: 33,
            imageHeight: 17, imageReuse: 0.5, seed: 1)
        let requests = try dataset.make(tokenizer: nil)
        let images = requests.flatMap(\.images)
        #expect(images.count == 40)
        #expect(Set(images).count < 40 && Set(images).count > 1)
        let decoded = try ImageDecoder.decode(images[0])
        #expect(decoded.width == 33 && decoded.height == 17)
        #expect(requests.allSatisfy { $0.prompt.split(separator: " ").count == 8 && $0.outputTokens == 4 })
    }

    @Test func goodputObjectivesParseAndJudge() throws {
        let objectives = try GoodputObjectives(parsing: "ttft:100,tpot:10")
        #expect(objectives == GoodputObjectives(ttftMilliseconds: 100, tpotMilliseconds: 10))
        #expect(throws: (any Error).self) { try GoodputObjectives(parsing: "speed:3") }
        let fast = BenchOutcome(success: true, promptTokens: 5, outputTokens: 11, ttft: 0.05, itl: [], latency: 0.15)
        let slow = BenchOutcome(success: true, promptTokens: 5, outputTokens: 11, ttft: 0.05, itl: [], latency: 0.5)
        #expect(objectives.met(by: fast) && !objectives.met(by: slow))
        let report = BenchReport(outcomes: [fast, slow], duration: 2, objectives: objectives)
        #expect(report.completed == 2 && report.goodput == 0.5 && report.totalOutputTokens == 22)
    }

    @Test func sseParserSplitsEventsAcrossChunks() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: {\"a\"".utf8)).isEmpty)
        #expect(parser.feed(Array(":1}\r\n\ndata: [DONE]\n\n".utf8)) == ["{\"a\":1}", "[DONE]"])
    }
}
