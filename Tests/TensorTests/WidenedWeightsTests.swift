import Testing
@testable import Tensor

struct WidenedWeightsTests {
    /// The kept copy holds exactly the widened weights, so a prefill product on it equals one on
    /// weights widened for the call, bit for bit.
    @Test(arguments: [DType.f16, .bf16])
    func prefillOnTheKeptCopyEqualsWideningPerCall(dtype: DType) throws {
        let (weights, values) = randomWeights(rows: 70, cols: 33, dtype: dtype, seed: 60)
        let tokens = WeightMatrix.matvecRowLimit + 5
        let input = Matrix(rows: tokens, cols: 33, values: randomFloats(tokens * 33, seed: 61))
        let widened = WidenedCopy(budget: WidenedWeights(budgetBytes: 70 * 33 * 4))
        try withExtendedLifetime(widened) {
            let copy = try #require(widened.floats(of: weights))
            #expect(Array(UnsafeBufferPointer(start: copy, count: values.count)) == values)
        }
        let kept = Matrix(rows: tokens, cols: 70), perCall = Matrix(rows: tokens, cols: 70)
        weights.multiply(input, into: kept)
        WeightMatrix.gemm(input.data, count: tokens, weights: values, rows: 70, cols: 33, y: perCall.data, accumulate: false)
        #expect(kept.toArray() == perCall.toArray())
    }

    /// Copies are made while the budget has room; a released copy gives its bytes back.
    @Test func theBudgetBoundsTheCopies() {
        let (weights, _) = randomWeights(rows: 16, cols: 16, dtype: .bf16, seed: 62)
        let budget = WidenedWeights(budgetBytes: 16 * 16 * 4)
        do {
            let first = WidenedCopy(budget: budget), second = WidenedCopy(budget: budget)
            #expect(first.floats(of: weights) != nil)
            #expect(second.floats(of: weights) == nil)
            // Asked again, a refused copy stays refused and a made one stays the same.
            #expect(second.floats(of: weights) == nil)
            #expect(first.floats(of: weights) == first.floats(of: weights))
        }
        #expect(WidenedCopy(budget: budget).floats(of: weights) != nil)
    }
}
