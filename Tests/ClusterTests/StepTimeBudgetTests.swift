import Testing
@testable import Cluster

/// 10 ms a step, 2 ms a prompt token, 4.5 ms a decoding sequence.
private func linear(_ prompt: Int, _ decoding: Int) -> Double? { 0.010 + 0.002 * Double(prompt) + 0.0045 * Double(decoding) }

@Test func stepTimeBudgetFillsTheTargetBesideTheDecodes() {
    let budget = StepTimeBudget(milliseconds: 50)
    // (50 − 10 − 2 × 4.5) ms of room at 2 ms a token: 15 tokens (16 would take 51 ms).
    #expect(budget.room(decoding: 2, cap: 512, minimumChunk: 4, seconds: linear) == .init(tokens: 15, admits: true))
    // A running prefill still advances by the minimum chunk; the room never exceeds the cap.
    #expect(budget.room(decoding: 2, cap: 512, minimumChunk: 16, seconds: linear) == .init(tokens: 16, admits: true))
    #expect(budget.room(decoding: 2, cap: 8, minimumChunk: 4, seconds: linear) == .init(tokens: 8, admits: true))
    // Eight decodes take 46 ms, leaving 2 tokens (raised to the minimum chunk); nine take 50.5 ms,
    // so nothing is admitted and running prefills advance by the minimum chunk.
    #expect(budget.room(decoding: 8, cap: 512, minimumChunk: 4, seconds: linear) == .init(tokens: 4, admits: true))
    #expect(budget.room(decoding: 8, cap: 512, minimumChunk: 1, seconds: linear) == .init(tokens: 2, admits: true))
    #expect(budget.room(decoding: 9, cap: 512, minimumChunk: 4, seconds: linear) == .init(tokens: 4, admits: false))
    #expect(budget.room(decoding: 20, cap: 512, minimumChunk: 4, seconds: linear) == .init(tokens: 4, admits: false))
}

@Test func stepTimeBudgetFollowsAnyIncreasingStepTime() {
    // Attention makes the prompt's cost quadratic: 10 ms + 0.01 ms · p²; 63² · 0.01 = 39.69 ms fits 50 ms, 64² does not.
    let quadratic = { (p: Int, _: Int) -> Double? in 0.010 + 0.00001 * Double(p * p) }
    #expect(StepTimeBudget(milliseconds: 50).room(decoding: 3, cap: 512, minimumChunk: 1, seconds: quadratic) == .init(tokens: 63, admits: true))
}

@Test func stepTimeBudgetGivesASlowModelTwiceItsDecodeStep() {
    // One decode takes 40 ms, over half the 50 ms target: the bound becomes 80 ms, (80 − 10 − 60) / 2 = 5 tokens beside two decodes.
    let slow = { (p: Int, d: Int) -> Double? in 0.010 + 0.002 * Double(p) + 0.030 * Double(d) }
    #expect(StepTimeBudget(milliseconds: 50).room(decoding: 2, cap: 512, minimumChunk: 1, seconds: slow) == .init(tokens: 5, admits: true))
}

@Test func stepTimeBudgetIsTheCapWhenOffOrUnknown() {
    // 0 ms turns it off; a model that has seen no step predicts nothing.
    #expect(StepTimeBudget(milliseconds: 0).target == nil)
    #expect(StepTimeBudget(milliseconds: 0).room(decoding: 20, cap: 512, minimumChunk: 4, seconds: linear) == .init(tokens: 512, admits: true))
    #expect(StepTimeBudget(milliseconds: 50).room(decoding: 2, cap: 512, minimumChunk: 4) { _, _ in nil } == .init(tokens: 512, admits: true))
}
