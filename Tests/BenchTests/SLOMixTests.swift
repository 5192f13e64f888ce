import Testing
@testable import Bench

@Suite struct SLOMixTests {
    @Test func sharesInterleaveAndAttainmentIsPerClass() throws {
        let mix = try SLOMix(parsing: "tight=500:1,relaxed=60000:2")
        #expect(mix.classes.map(\.ttftSeconds) == [0.5, 60])
        let classes = mix.assign(count: 6)
        #expect(classes == ["relaxed", "tight", "relaxed", "relaxed", "tight", "relaxed"])
        func outcome(_ ttft: Double, _ success: Bool = true) -> BenchOutcome {
            BenchOutcome(success: success, promptTokens: 1, outputTokens: 1, ttft: ttft, itl: [], latency: ttft)
        }
        let outcomes = [outcome(1), outcome(0.4), outcome(70), outcome(2, false), outcome(0.6), outcome(3)]
        #expect(mix.attainment(classes: classes, outcomes: outcomes) == ["tight": 0.5, "relaxed": 0.5])
        #expect(throws: BenchDatasetError.self) { try SLOMix(parsing: "tight=500") }
    }
}
