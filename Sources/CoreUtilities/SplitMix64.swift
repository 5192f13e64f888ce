import Foundation

/// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014): a tiny, fast, seedable generator. The standard
/// library's generator cannot be seeded, and simulations must replay bit for bit.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Exponential with the given rate (mean 1/rate).
    public mutating func exponential(rate: Double) -> Double {
        -log(1 - uniform()) / rate
    }

    /// Standard normal by Box–Muller.
    public mutating func normal() -> Double {
        let u = 1 - uniform()
        return sqrt(-2 * log(u)) * cos(2 * Double.pi * uniform())
    }

    /// Log-normal with the given median and log-space standard deviation.
    public mutating func logNormal(median: Double, sigma: Double) -> Double {
        median * exp(sigma * normal())
    }

    /// Index drawn with probability proportional to `weights` (all non-negative, sum > 0).
    public mutating func weightedIndex(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var x = uniform() * total
        for (i, w) in weights.enumerated() {
            if x < w { return i }
            x -= w
        }
        return max(0, weights.count - 1)
    }

    /// A new generator for an independent stream, derived from this one.
    public mutating func fork() -> SplitMix64 { SplitMix64(seed: next()) }
}
