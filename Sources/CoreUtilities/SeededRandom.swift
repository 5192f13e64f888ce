/// A small, fast, seedable random number generator (xoshiro256**, seeded through SplitMix64).
///
/// Swift's `SystemRandomNumberGenerator` cannot be seeded, and sampling must be reproducible:
/// the same seed gives the same tokens.
///
/// ```swift
/// var rng = SeededRandom(seed: 42)
/// let u = rng.nextUnitFloat()   // in [0, 1)
/// ```
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var seeds = SplitMix64(seed: seed)
        state = (seeds.next(), seeds.next(), seeds.next(), seeds.next())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    /// A uniform draw in [0, 1) with 24 bits of precision, the resolution of a `Float` mantissa.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
