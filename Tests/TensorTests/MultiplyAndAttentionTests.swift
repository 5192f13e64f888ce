import Foundation
import Testing
@testable import Tensor

struct MultiplyTests {
    /// Both the streaming (≤ 4 rows) and the SGEMM path, every dtype, with and without accumulation.
    @Test(arguments: DType.floatTypes, [1, 3, 5, 17, 64])
    func multiplyMatchesNaive(dtype: DType, tokens: Int) {
        let (rows, cols) = (75, 49)
        let (w, values) = randomWeights(rows: rows, cols: cols, dtype: dtype, seed: 20)
        let x = randomFloats(tokens * cols, seed: 21)
        let start = randomFloats(tokens * rows, seed: 22)
        var expected = start
        for t in 0 ..< tokens {
            for r in 0 ..< rows {
                var sum: Double = 0
                for c in 0 ..< cols { sum += Double(values[r * cols + c]) * Double(x[t * cols + c]) }
                expected[t * rows + r] += Float(sum)
            }
        }
        let y = Matrix(rows: tokens, cols: rows, values: start)
        w.multiply(Matrix(rows: tokens, cols: cols, values: x), into: y, accumulate: true)
        #expect(maxAbsDifference(y.toArray(), expected) < 1e-4)
    }

    @Test func parallelForVisitsEveryIndexOnce() {
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1000)
        defer { counter.deallocate() }
        counter.initialize(repeating: 0, count: 1000)
        Parallel.forEach(1000) { counter[$0] += 1 }
        #expect((0 ..< 1000).allSatisfy { counter[$0] == 1 })
    }

    @Test func threadCountIsConfigurable() {
        let original = ComputeThreads.count
        defer { ComputeThreads.set(original) }
        ComputeThreads.set(3)
        #expect(ComputeThreads.count == 3)
        ComputeThreads.set(0)
        #expect(ComputeThreads.count == 1)
    }
}

struct AttentionTests {
    /// Naive causal attention with GQA for the last `queries.rows` of `total` positions.
    func naive(queries: [Float], keys: [Float], values: [Float], tokens: Int, total: Int, heads: Int, kvHeads: Int, dim: Int) -> [Float] {
        var out = [Float](repeating: 0, count: tokens * heads * dim)
        let kvWidth = kvHeads * dim
        for t in 0 ..< tokens {
            let visible = total - tokens + t + 1
            for h in 0 ..< heads {
                let kv = h / (heads / kvHeads)
                var scores = (0 ..< visible).map { j -> Double in
                    var s: Double = 0
                    for i in 0 ..< dim { s += Double(queries[t * heads * dim + h * dim + i]) * Double(keys[j * kvWidth + kv * dim + i]) }
                    return s / Double(dim).squareRoot()
                }
                let m = scores.max()!
                scores = scores.map { exp($0 - m) }
                let sum = scores.reduce(0, +)
                for i in 0 ..< dim {
                    var acc: Double = 0
                    for j in 0 ..< visible { acc += scores[j] / sum * Double(values[j * kvWidth + kv * dim + i]) }
                    out[t * heads * dim + h * dim + i] = Float(acc)
                }
            }
        }
        return out
    }

    /// Decode (1 row), prefill, prefill across the 128-row block, with past positions and a cache split
    /// in segments; both softmax orders (online: ggml's order, 64-wide heads through its AVX-512 dot
    /// product, and the blocked form from 64 rows on), on every kernel path.
    @Test(arguments: [(1, 9), (5, 5), (6, 20), (131, 140)])
    func causalMatchesNaive(tokens: Int, total: Int) {
        for dim in [12, 70] {
            let (heads, kvHeads) = (4, 2)
            let q = randomFloats(tokens * heads * dim, seed: 30)
            let k = randomFloats(total * kvHeads * dim, seed: 31)
            let v = randomFloats(total * kvHeads * dim, seed: 32)
            let expected = naive(queries: q, keys: k, values: v, tokens: tokens, total: total, heads: heads, kvHeads: kvHeads, dim: dim)
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    let stride = kvHeads * dim
                    let whole = [KVSegment(keys: kp.baseAddress!, values: vp.baseAddress!, count: total, rowStride: stride)]
                    let split = total / 3
                    let pieces = [
                        KVSegment(keys: kp.baseAddress!, values: vp.baseAddress!, count: split, rowStride: stride),
                        KVSegment(keys: kp.baseAddress! + split * stride, values: vp.baseAddress! + split * stride, count: total - split, rowStride: stride),
                    ]
                    withEachKernelPath { path in
                        for softmax in [SoftmaxOrder.blocked, .online, .onlineFloat16] {
                            let shape = AttentionShape(numHeads: heads, numKVHeads: kvHeads, headDim: dim, softmax: softmax)
                            for segments in [whole, pieces] {
                                let out = Matrix(rows: tokens, cols: heads * dim)
                                Attention.causal(queries: Matrix(rows: tokens, cols: heads * dim, values: q), segments: segments, shape: shape, output: out)
                                // .onlineFloat16 holds queries, keys, values and its output in float16, as llama.cpp's flash attention does.
                                let tolerance: Float = softmax == .onlineFloat16 ? 4e-3 : 1e-5
                                #expect(maxAbsDifference(out.toArray(), expected) < tolerance, "\(segments.count) segment(s), d=\(dim), \(softmax), \(path)")
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The first query row of online attention sees one key: its output is that value, rounded to
/// float16 by `.onlineFloat16` and exact with `.online`.
@Test func onlineAttentionHoldsValuesInFloat16() {
    let dim = 40
    let q = randomFloats(dim, seed: 41), k = randomFloats(dim, seed: 42), v = randomFloats(dim, seed: 43)
    k.withUnsafeBufferPointer { kp in
        v.withUnsafeBufferPointer { vp in
            withEachKernelPath { path in
                let out = Matrix(rows: 1, cols: dim)
                Attention.causal(queries: Matrix(rows: 1, cols: dim, values: q),
                                 segments: [KVSegment(keys: kp.baseAddress!, values: vp.baseAddress!, count: 1, rowStride: dim)],
                                 shape: AttentionShape(numHeads: 1, numKVHeads: 1, headDim: dim, softmax: .onlineFloat16), output: out)
                #expect(out.toArray().map(\.bitPattern) == v.map { Float(Float16($0)).bitPattern }, "\(path)")
                #expect(out.toArray() != v, "values must be rounded")
                let exact = Matrix(rows: 1, cols: dim)
                Attention.causal(queries: Matrix(rows: 1, cols: dim, values: q),
                                 segments: [KVSegment(keys: kp.baseAddress!, values: vp.baseAddress!, count: 1, rowStride: dim)],
                                 shape: AttentionShape(numHeads: 1, numKVHeads: 1, headDim: dim, softmax: .online), output: exact)
                #expect(exact.toArray() == v, "\(path)")
            }
        }
    }
}

struct GroupedMultiplyTests {
    /// A group of products with mixed dtypes and odd row counts equals the products run one by one.
    @Test(arguments: [1, 2, 4, 6])
    func groupMatchesSeparateProducts(tokens: Int) {
        let shapes: [(Int, DType)] = [(13, .f32), (40, .f16), (7, .bf16), (1, .f16)]
        let cols = 37
        let input = Matrix(rows: tokens, cols: cols, values: randomFloats(tokens * cols, seed: 40))
        let weights = shapes.enumerated().map { randomWeights(rows: $0.element.0, cols: cols, dtype: $0.element.1, seed: 41 + UInt64($0.offset)).0 }
        let grouped = weights.map { Matrix(rows: tokens, cols: $0.rows) }
        WeightMatrix.multiply(zip(weights, grouped).map { ($0, input, $1) })
        for (w, out) in zip(weights, grouped) {
            let single = Matrix(rows: tokens, cols: w.rows)
            w.multiply(input, into: single)
            #expect(maxAbsDifference(out.toArray(), single.toArray()) < 1e-5)
        }
    }
}
