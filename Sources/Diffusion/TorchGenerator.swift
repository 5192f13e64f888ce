import Foundation

/// PyTorch's CPU random generator (`torch.Generator("cpu").manual_seed(seed)`), so a seed gives the
/// same initial and ancestral noise as in a `diffusers` pipeline.
///
/// Follows ATen: a 32-bit mt19937 seeded with the low 32 bits of the seed; `randn` of 16 or more
/// float32 values draws 24-bit uniforms for all of them and transforms blocks of 16 with Box–Muller
/// (`normal_fill_16`: the first 8 as 1 − u, the next 8 as angles), redrawing the last 16 when the
/// count is not a multiple of 16; fewer than 16 values take the scalar path (53-bit uniforms,
/// `normal_distribution<double>`, one cached sample per pair).
///
/// What differs: the transform uses the C library's `logf`, `cosf` and `sinf` on float32 angles
/// (2π rounded to float32 times u, as torch's vectorised kernels compute it); torch's vectorised
/// log/sin/cos approximations differ from these by an ulp or two (measured: ≤ 2.4e-7 on a sample).
///
/// ```swift
/// var generator = TorchGenerator(seed: 42)
/// let noise = generator.randn(count: 4 * 64 * 64)   // torch.randn((1, 4, 64, 64), generator=g)
/// ```
public struct TorchGenerator: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var next = 0
    /// Draws left before the state is regenerated (`left_` in ATen, counting from 1).
    private var left = 1
    /// The second sample of the last scalar Box–Muller pair.
    private var cachedNormal: Double?

    /// The generator after `manual_seed(seed)`.
    public init(seed: UInt64) {
        state[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1 ..< 624 {
            let previous = state[j - 1]
            state[j] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(j)
        }
    }

    /// The next 32 random bits (`random()`).
    public mutating func nextUInt32() -> UInt32 {
        left -= 1
        if left == 0 { regenerate() }
        var y = state[next]
        next += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func regenerate() {
        func mix(_ u: UInt32, _ v: UInt32) -> UInt32 {
            ((u & 0x8000_0000) | (v & 0x7FFF_FFFF)) >> 1 ^ ((v & 1) != 0 ? 0x9908_B0DF : 0)
        }
        left = 624
        next = 0
        for i in 0 ..< 624 - 397 { state[i] = state[i + 397] ^ mix(state[i], state[i + 1]) }
        for i in 624 - 397 ..< 623 { state[i] = state[i + 397 - 624] ^ mix(state[i], state[i + 1]) }
        state[623] = state[396] ^ mix(state[623], state[0])
    }

    /// A float32 uniform in [0, 1) with 24 random bits.
    private mutating func uniformFloat() -> Float {
        Float(nextUInt32() & ((1 << 24) - 1)) * (1.0 / Float(1 << 24))
    }

    /// A float64 uniform in [0, 1) with 53 random bits (`random64()`: the first draw is the high word).
    private mutating func uniformDouble() -> Double {
        let high = UInt64(nextUInt32())
        let low = UInt64(nextUInt32())
        return Double((high << 32 | low) & ((1 << 53) - 1)) * (1.0 / Double(UInt64(1) << 53))
    }

    /// One standard normal sample from the scalar path (`at::normal_distribution<double>`).
    private mutating func scalarNormal() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = uniformDouble()
        let u2 = uniformDouble()
        let radius = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = radius * sin(theta)
        return radius * cos(theta)
    }

    /// `count` standard normal float32 values, as `torch.randn` of a contiguous tensor with that many elements.
    public mutating func randn(count: Int) -> [Float] {
        guard count >= 16 else { return (0 ..< count).map { _ in Float(scalarNormal()) } }
        var data = (0 ..< count).map { _ in uniformFloat() }
        data.withUnsafeMutableBufferPointer { buffer in
            var i = 0
            while i + 16 <= count {
                Self.normalFill16(buffer.baseAddress! + i)
                i += 16
            }
            if count % 16 != 0 {
                let tail = buffer.baseAddress! + count - 16
                for j in 0 ..< 16 { tail[j] = uniformFloat() }
                Self.normalFill16(tail)
            }
        }
        return data
    }

    /// Box–Muller on 16 uniforms in place (ATen's `NormalFill16<float>`).
    private static func normalFill16(_ data: UnsafeMutablePointer<Float>) {
        let twoPi = Float(2 * Double.pi)
        for j in 0 ..< 8 {
            let u1 = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (-2 * logf(u1)).squareRoot()
            let theta = twoPi * u2
            data[j] = radius * cosf(theta)
            data[j + 8] = radius * sinf(theta)
        }
    }
}
