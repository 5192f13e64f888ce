import Foundation
import ServingAPI
import Testing
@testable import Engine

@Suite struct SamplerTests {
    /// A fixed, non-trivial distribution over 50 tokens.
    static let logits: [Float] = (0 ..< 50).map { (i: Int) -> Float in
        let wave: Double = sin(Double(i) * 1.7) * 3
        return Float(wave + Double(i % 7) * 0.25)
    }

    @Test func greedyPicksTheArgmaxAndTopKOneIsGreedy() {
        let best = Sampler.argmax(Self.logits)
        #expect(Self.logits.allSatisfy { $0 <= Self.logits[best] })
        var greedy = Sampler(SamplingParameters(temperature: 0))
        var topOne = Sampler(SamplingParameters(temperature: 1.5, topK: 1, seed: 3))
        #expect(greedy.sample(Self.logits) == best)
        #expect(topOne.sample(Self.logits) == best)
    }

    @Test func argmaxBreaksTiesTowardsTheLowerIndex() {
        #expect(Sampler.argmax([0, 2, 1, 2]) == 1)
    }

    @Test func sameSeedSameTokensDifferentSeedDifferentTokens() {
        func draw(seed: UInt64) -> [Int] {
            var s = Sampler(SamplingParameters(temperature: 1, seed: seed))
            return (0 ..< 64).map { _ in s.sample(Self.logits) }
        }
        #expect(draw(seed: 11) == draw(seed: 11))
        #expect(draw(seed: 11) != draw(seed: 12))
    }

    @Test func topKAndTopPAndMinPRestrictTheCandidates() {
        let order = Self.logits.indices.sorted { Self.logits[$0] > Self.logits[$1] }
        var topK = Sampler(SamplingParameters(temperature: 5, topK: 3, seed: 1))
        let kDraws = Set((0 ..< 400).map { _ in topK.sample(Self.logits) })
        #expect(kDraws == Set(order.prefix(3)))

        // The nucleus for top_p = 0.5 at temperature 1, computed directly.
        let probs = softmax(Self.logits)
        var mass: Float = 0, nucleus: [Int] = []
        for i in order where mass < 0.5 {
            mass += probs[i]
            nucleus.append(i)
        }
        var topP = Sampler(SamplingParameters(temperature: 1, topP: 0.5, seed: 2))
        let pDraws = Set((0 ..< 400).map { _ in topP.sample(Self.logits) })
        #expect(pDraws.isSubset(of: Set(nucleus)) && pDraws.count > 1)

        let maxProb = probs.max()!
        var minP = Sampler(SamplingParameters(temperature: 1, minP: 0.3, seed: 4))
        let mDraws = Set((0 ..< 400).map { _ in minP.sample(Self.logits) })
        #expect(mDraws.allSatisfy { probs[$0] >= 0.3 * maxProb })
    }

    @Test func samplingFollowsTheDistribution() {
        let logits: [Float] = [log(0.6), log(0.3), log(0.1)]
        var s = Sampler(SamplingParameters(temperature: 1, seed: 9))
        var counts = [0, 0, 0]
        for _ in 0 ..< 20000 { counts[s.sample(logits)] += 1 }
        let freq = counts.map { Double($0) / 20000 }
        let expected: [Double] = [0.6, 0.3, 0.1]
        for i in 0 ..< 3 { #expect(abs(freq[i] - expected[i]) < 0.02) }
    }

    @Test func penaltiesDiscourageRepeats() {
        // Two nearly equal tokens: after picking one, a presence penalty makes greedy pick the other.
        let logits: [Float] = [1.0, 0.95, -3]
        var plain = Sampler(SamplingParameters(temperature: 0))
        let plainPicks: [Int] = (0 ..< 2).map { _ in plain.sample(logits) }
        #expect(plainPicks == [0, 0])
        var presence = Sampler(SamplingParameters(temperature: 0, presencePenalty: 0.1))
        let presencePicks: [Int] = (0 ..< 3).map { _ in presence.sample(logits) }
        #expect(presencePicks == [0, 1, 0])
        // Frequency penalty grows with every repeat: 0.04 per use moves the choice after two uses of token 0.
        var frequency = Sampler(SamplingParameters(temperature: 0, frequencyPenalty: 0.04))
        let frequencyPicks: [Int] = (0 ..< 4).map { _ in frequency.sample(logits) }
        #expect(frequencyPicks == [0, 0, 1, 0])
    }

    @Test func logprobsAreTheLogSoftmaxOfTheRawLogits() {
        let (chosen, top) = Sampler.logprobs(Self.logits, chosen: 7, top: 5)
        let reference = softmax(Self.logits).map { Float(log(Double($0))) }
        #expect(abs(chosen - reference[7]) < 1e-5)
        let order = Self.logits.indices.sorted { Self.logits[$0] > Self.logits[$1] }
        #expect(top.map(\.id) == Array(order.prefix(5)))
        for entry in top { #expect(abs(entry.logprob - reference[entry.id]) < 1e-5) }
        #expect(Sampler.logprobs(Self.logits, chosen: 0, top: 0).top.isEmpty)
    }

    @Test(arguments: [
        SamplingParameters(temperature: -1),
        SamplingParameters(topP: 0),
        SamplingParameters(minP: 1.5),
        SamplingParameters(presencePenalty: 3),
        SamplingParameters(maxTokens: 0),
        SamplingParameters(topLogprobs: 21),
        SamplingParameters(stopStrings: [""]),
    ])
    func outOfRangeParametersAreRejected(_ parameters: SamplingParameters) {
        #expect(throws: SamplingParameterError.self) { try parameters.validate() }
    }

    private func softmax(_ x: [Float]) -> [Float] {
        let m = x.max()!
        let e = x.map { exp(Double($0 - m)) }
        let s = e.reduce(0, +)
        return e.map { Float($0 / s) }
    }
}
