import Foundation
import Simulator
import Testing
@testable import Profiler

/// ms = 3 + 0.02·T + 1e-5·Σchunk² + 0.25·batch + 0.001·Σcontext, one fixed cost whatever the step holds.
private func exactStep(tokens: Int, squares: Double, batch: Int, context: Int) -> Double {
    3 + 0.02 * Double(tokens) + 1e-5 * squares + 0.25 * Double(batch) + 0.001 * Double(context)
}

@Test func stepFitRecoversExactCoefficientsFromAllThreeShapes() throws {
    let prefill = [(1, 32), (4, 32), (1, 128), (8, 128), (1, 512), (2, 512)].map { b, l in
        CostModel.Measurements.Prefill(sequences: b, tokens: b * l, squaredLengths: Double(b * l * l),
                                       ms: exactStep(tokens: b * l, squares: Double(b * l * l), batch: 0, context: 0))
    }
    var decode: [CostModel.Measurements.Decode] = []
    var mixed: [CostModel.Measurements.Mixed] = []
    for batch in [1, 2, 4, 8, 16] {
        for context in [33, 129, 513] {
            decode.append(.init(batch: batch, contextTokens: batch * context, ms: exactStep(tokens: 0, squares: 0, batch: batch, context: batch * context)))
        }
        for length in [32, 128] {
            let squares = Double(length * length)
            mixed.append(.init(batch: batch, contextTokens: batch * 129, prefillTokens: length, squaredLengths: squares,
                               ms: exactStep(tokens: length, squares: squares, batch: batch, context: batch * 129)))
        }
    }
    let fit = try CostModelFit.step(prefill: prefill, decode: decode, mixed: mixed)
    #expect(abs(fit.fixedMs - 3) < 1e-9)
    #expect(abs(fit.perTokenMs - 0.02) < 1e-12)
    #expect(abs(fit.perTokenSquaredMs - 1e-5) < 1e-15)
    #expect(abs(fit.perSequenceMs - 0.25) < 1e-9)
    #expect(abs(fit.perContextTokenMs - 0.001) < 1e-12)
}

@Test func mixedStepsPullTheSharedFixedCostToOneForwardPass() throws {
    // Each shape alone shows a 10 ms fixed cost; steps holding both cost 10 ms plus both variable
    // parts, not 20: the fit finds one fixed cost for every forward pass.
    let prefill = [64, 128, 256].map { CostModel.Measurements.Prefill(sequences: 1, tokens: $0, squaredLengths: 0, ms: 10 + 0.1 * Double($0)) }
    let decode = [1, 4, 16].map { CostModel.Measurements.Decode(batch: $0, contextTokens: 0, ms: 10 + 0.5 * Double($0)) }
    let mixed = [(1, 64), (4, 128), (16, 256)].map { b, t in
        CostModel.Measurements.Mixed(batch: b, contextTokens: 0, prefillTokens: t, squaredLengths: 0, ms: 10 + 0.1 * Double(t) + 0.5 * Double(b))
    }
    let fit = try CostModelFit.step(prefill: prefill, decode: decode, mixed: mixed)
    #expect(abs(fit.fixedMs - 10) < 1e-9)
    #expect(abs(fit.perTokenMs - 0.1) < 1e-12 && abs(fit.perSequenceMs - 0.5) < 1e-12)
}

@Test func smallStepFitRecoversExactCoefficients() throws {
    // ms = 4 + 3·tokens + 0.002·attended on steps of at most four tokens.
    var decode: [CostModel.Measurements.Decode] = []
    for b in [1, 2, 4] {
        for c in [33, 129, 513] {
            let ms: Double = 4 + 3 * Double(b) + 0.002 * Double(b * c)
            decode.append(.init(batch: b, contextTokens: b * c, ms: ms))
        }
    }
    let mixed = [CostModel.Measurements.Mixed(batch: 1, contextTokens: 65, prefillTokens: 3, squaredLengths: 9, ms: 4 + 12 + 0.002 * 74)]
    let fit = try CostModelFit.smallStep(maxTokens: 4, prefill: [], decode: decode, mixed: mixed)
    #expect(fit.maxTokens == 4)
    #expect(abs(fit.fixedMs - 4) < 1e-9 && abs(fit.perTokenMs - 3) < 1e-9 && abs(fit.perAttendedTokenMs - 0.002) < 1e-12)
}

@Test func encodeFitKeepsOneOfCollinearImageAndTokenTerms() throws {
    // A fixed-size tower: every image is 196 tokens and costs 4 ms.
    let points = [1, 2, 4].map { CostModel.Measurements.Encode(images: $0, width: 224, height: 224, tokens: 196 * $0, ms: 4 * Double($0)) }
    let fit = try CostModelFit.encode(points)
    for p in points {
        #expect(abs(fit.fixedMs + fit.perImageMs * Double(p.images) + fit.perTokenMs * Double(p.tokens) - p.ms) < 1e-9)
    }
    // Token counts that vary with size separate the terms: 1 ms per image + 0.01 ms per token.
    let sized = [(1, 64), (2, 128), (1, 256), (4, 1024)].map { n, t in
        CostModel.Measurements.Encode(images: n, width: 1, height: 1, tokens: t, ms: 1 * Double(n) + 0.01 * Double(t))
    }
    let separated = try CostModelFit.encode(sized)
    #expect(abs(separated.perImageMs - 1) < 1e-9 && abs(separated.perTokenMs - 0.01) < 1e-12 && separated.fixedMs < 1e-9)
}

@Test func transferFitGivesLatencyAndBandwidth() throws {
    // 10 GB/s = 1e-7 ms per byte, plus 0.002 ms.
    let points = [4096, 65536, 1 << 20, 1 << 24].map { CostModel.Measurements.Transfer(bytes: $0, ms: 0.002 + Double($0) * 1e-7) }
    let fit = try CostModelFit.transfer(points)
    #expect(abs(fit.latencyMs - 0.002) < 1e-12)
    #expect(abs(fit.bandwidthGBps - 10) < 1e-6)
}

@Test func negativeCoefficientsAreClampedToZeroAndTheRestRefitted() throws {
    // The unconstrained fit of y = 0.01·T − 0.5 has a negative intercept; the constrained one drops it.
    let points = [100, 200, 400, 800, 1600].map { t in
        CostModel.Measurements.Prefill(sequences: 1, tokens: t, squaredLengths: Double(t * t), ms: 0.01 * Double(t) - 0.5)
    }
    let fit = try CostModelFit.step(prefill: points, decode: [], mixed: [])
    #expect(fit.fixedMs == 0)
    #expect(fit.perTokenMs >= 0 && fit.perTokenSquaredMs >= 0)
    #expect(fit.perTokenMs > 0 || fit.perTokenSquaredMs > 0)
}

@Test func tooFewPointsIsATypedError() {
    let one = [CostModel.Measurements.Decode(batch: 1, contextTokens: 10, ms: 1)]
    // Decode points exercise three of the step's five terms.
    #expect(throws: ProfileError.tooFewPoints(stage: "engine step", points: 1, needed: 3)) { try CostModelFit.step(prefill: [], decode: one, mixed: []) }
}

@Test func collinearPointsStillFit() throws {
    // Every point with batch 1 and no prefill: the batch column duplicates the intercept, and the
    // prefill columns are all zero.
    let points = [10, 20, 40, 80, 160].map { CostModel.Measurements.Decode(batch: 1, contextTokens: $0, ms: 2 + 0.1 * Double($0)) }
    let fit = try CostModelFit.step(prefill: [], decode: points, mixed: [])
    let predicted = points.map { fit.fixedMs + fit.perSequenceMs + fit.perContextTokenMs * Double($0.contextTokens) }
    for (p, point) in zip(predicted, points) { #expect(abs(p - point.ms) < 1e-9) }
}
