import CKernels
import Foundation
import Testing
@testable import Tensor

/// Full (non-causal) attention against a double-precision reference, through `Attention.bidirectional`
/// on every kernel path (AVX-512 register tiles for heads up to `tileHeadDim`, SGEMM otherwise or
/// without SIMD) and through `ck_attention_tile`'s portable loop. Serialized: the kernel path is a
/// per-thread switch that pool jobs inherit.
@Suite(.serialized)
struct BidirectionalAttentionTests {
    /// Query and key counts around the 8-row and 32-key tiles, the 256-key chunks and the 128-query
    /// block; SD's head dimensions 40 and 80, SDXL's 64 (two 32-column passes), 72 (40 + 32), one not
    /// a multiple of 16, one above `tileHeadDim`, and grouped keys.
    static let shapes: [(queries: Int, keys: Int, heads: Int, kvHeads: Int, dim: Int)] = [
        (300, 300, 2, 2, 40), (129, 77, 3, 3, 80), (5, 33, 4, 2, 24), (131, 1001, 1, 1, 40), (17, 64, 2, 2, 160), (1, 9, 2, 1, 40),
        (70, 600, 2, 2, 64), (9, 520, 1, 1, 72),
    ]

    static func reference(_ q: [Float], _ k: [Float], _ v: [Float], _ s: (queries: Int, keys: Int, heads: Int, kvHeads: Int, dim: Int)) -> [Float] {
        let (width, kvWidth, scale) = (s.heads * s.dim, s.kvHeads * s.dim, 1 / Double(s.dim).squareRoot())
        var out = [Float](repeating: 0, count: s.queries * width)
        for t in 0 ..< s.queries {
            for h in 0 ..< s.heads {
                let kv = h / (s.heads / s.kvHeads)
                var scores = (0 ..< s.keys).map { j in
                    (0 ..< s.dim).reduce(0.0) { $0 + Double(q[t * width + h * s.dim + $1]) * Double(k[j * kvWidth + kv * s.dim + $1]) } * scale
                }
                let top = scores.max()!
                scores = scores.map { Foundation.exp($0 - top) }
                let sum = scores.reduce(0, +)
                for c in 0 ..< s.dim {
                    let acc = (0 ..< s.keys).reduce(0.0) { $0 + scores[$1] * Double(v[$1 * kvWidth + kv * s.dim + c]) }
                    out[t * width + h * s.dim + c] = Float(acc / sum)
                }
            }
        }
        return out
    }

    /// Queries and keys in [−2, 2] give peaked softmaxes; values in [−1, 1] keep outputs of order 1,
    /// so 1e-5 absolute is float32 rounding over up to 1001 keys.
    @Test func matchesReference() {
        for (index, s) in Self.shapes.enumerated() {
            let seed = UInt64(40 + 3 * index)
            let q = randomFloats(s.queries * s.heads * s.dim, seed: seed, scale: 2)
            let k = randomFloats(s.keys * s.kvHeads * s.dim, seed: seed + 1, scale: 2)
            let v = randomFloats(s.keys * s.kvHeads * s.dim, seed: seed + 2)
            let expected = Self.reference(q, k, v, s)
            let shape = AttentionShape(numHeads: s.heads, numKVHeads: s.kvHeads, headDim: s.dim)
            q.withUnsafeBufferPointer { qp in
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        withEachKernelPath { path in
                            let out = Matrix(rows: s.queries, cols: s.heads * s.dim)
                            Attention.bidirectional(queries: .init(base: qp.baseAddress!, rowStride: s.heads * s.dim), queryCount: s.queries,
                                                    keys: .init(base: kp.baseAddress!, rowStride: s.kvHeads * s.dim),
                                                    values: .init(base: vp.baseAddress!, rowStride: s.kvHeads * s.dim),
                                                    keyCount: s.keys, shape: shape, output: out)
                            #expect(maxAbsDifference(out.toArray(), expected) < 1e-5, "\(s) \(path)")
                        }
                    }
                }
            }
        }
    }

    /// `ck_attention_tile` itself on both of its forms (the portable loop runs when SIMD is off), over
    /// two chunks of keys.
    @Test func tileMatchesReferenceOnEachPath() {
        let s = (queries: 37, keys: 300, heads: 2, kvHeads: 2, dim: 40)
        let q = randomFloats(s.queries * s.heads * s.dim, seed: 70, scale: 2)
        let k = randomFloats(s.keys * s.kvHeads * s.dim, seed: 71, scale: 2)
        let v = randomFloats(s.keys * s.kvHeads * s.dim, seed: 72)
        let expected = Self.reference(q, k, v, s)
        let width = s.heads * s.dim
        withEachKernelPath { path in
            var packed = [Float](repeating: .nan, count: ck_attention_tile_keys(s.keys, s.heads, s.dim))
            var scratch = [Float](repeating: .nan, count: ck_attention_tile_scratch(s.queries))
            var out = [Float](repeating: .nan, count: s.queries * width)
            ck_attention_pack_keys(k, width, s.keys, s.heads, s.dim, &packed)
            for h in 0 ..< s.heads {
                q.withUnsafeBufferPointer { qp in
                    v.withUnsafeBufferPointer { vp in
                        packed.withUnsafeBufferPointer { kp in
                            out.withUnsafeMutableBufferPointer { op in
                                ck_attention_tile(qp.baseAddress! + h * s.dim, width, s.queries, kp.baseAddress! + h * packed.count / s.heads,
                                                  vp.baseAddress! + h * s.dim, width, s.keys, s.dim, 1 / Float(s.dim).squareRoot(),
                                                  op.baseAddress! + h * s.dim, width, &scratch)
                            }
                        }
                    }
                }
            }
            #expect(maxAbsDifference(out, expected) < 1e-5, "\(path)")
        }
    }
}
