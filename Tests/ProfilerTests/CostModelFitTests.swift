import Foundation
import Simulator
import Testing
@testable import Profiler

@Test func prefillFitRecoversExactCoefficients() throws {
    // ms = 0.5 + 0.02·T + 1e-5·Σlen² on batches of whole prompts.
    let shapes = [(1, 32), (4, 32), (1, 128), (8, 128), (1, 512), (2, 512)]
    let points = shapes.map { b, l in
        CostModel.Measurements.Prefill(sequences: b, tokens: b * l, squaredLengths: Double(b * l * l),
                                       ms: 0.5 + 0.02 * Double(b * l) + 1e-5 * Double(b * l * l))
    }
    let fit = try CostModelFit.prefill(points)
    #expect(abs(fit.fixedMs - 0.5) < 1e-9)
    #expect(abs(fit.perTokenMs - 0.02) < 1e-12)
    #expect(abs(fit.perTokenSquaredMs - 1e-5) < 1e-15)
}

@Test func decodeFitRecoversExactCoefficients() throws {
    var points: [CostModel.Measurements.Decode] = []
    for batch in [1, 2, 4, 8, 16] {
        for context in [33, 129, 513] {
            points.append(.init(batch: batch, contextTokens: batch * context, ms: 3 + 0.25 * Double(batch) + 0.001 * Double(batch * context)))
        }
    }
    let fit = try CostModelFit.decode(points)
    #expect(abs(fit.fixedMs - 3) < 1e-9)
    #expect(abs(fit.perSequenceMs - 0.25) < 1e-9)
    #expect(abs(fit.perContextTokenMs - 0.001) < 1e-12)
}

@Test func transferFitGivesLatencyAndBandwidth() throws {
    // 10 GB/s = 1e-7 ms per byte, plus 0.002 ms.
    let points = [4096, 65536, 1 << 20, 1 << 24].map { CostModel.Measurements.Transfer(bytes: $0, ms: 0.002 + Double($0) * 1e-7) }
    let fit = try CostModelFit.transfer(points)
    #expect(abs(fit.latencyMs - 0.002) < 1e-12)
    #expect(abs(fit.bandwidthGBps - 10) < 1e-6)
}

@Test func negativeCoefficientsAreClampedToZeroAndTheRestRefitted() throws {
    // The unconstrained fit of y = 0.01·T − 1 has a negative intercept; the constrained one drops it.
    let points = [100, 200, 400, 800].map { t in
        CostModel.Measurements.Prefill(sequences: 1, tokens: t, squaredLengths: Double(t * t), ms: 0.01 * Double(t) - 0.5)
    }
    let fit = try CostModelFit.prefill(points)
    #expect(fit.fixedMs == 0)
    #expect(fit.perTokenMs >= 0 && fit.perTokenSquaredMs >= 0)
    #expect(fit.perTokenMs > 0 || fit.perTokenSquaredMs > 0)
}

@Test func tooFewPointsIsATypedError() {
    let one = [CostModel.Measurements.Decode(batch: 1, contextTokens: 10, ms: 1)]
    #expect(throws: ProfileError.tooFewPoints(stage: "decode", points: 1, needed: 3)) { try CostModelFit.decode(one) }
}

@Test func collinearPointsStillFit() throws {
    // Every point with batch 1 and context = batch: the batch column duplicates the intercept.
    let points = [10, 20, 40].map { CostModel.Measurements.Decode(batch: 1, contextTokens: $0, ms: 2 + 0.1 * Double($0)) }
    let fit = try CostModelFit.decode(points)
    let predicted = points.map { fit.fixedMs + fit.perSequenceMs + fit.perContextTokenMs * Double($0.contextTokens) }
    for (p, point) in zip(predicted, points) { #expect(abs(p - point.ms) < 1e-9) }
}
