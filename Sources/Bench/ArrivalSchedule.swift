import CoreUtilities
import Foundation

/// Request send times of a benchmark: a Poisson process when `burstiness` is 1, burstier below 1 and
/// steadier above, with gaps drawn from Gamma(shape: burstiness, mean: 1 / rate), as vLLM's bench does.
///
/// ```swift
/// var schedule = ArrivalSchedule(rate: 4, burstiness: 1, seed: 0)
/// let gaps = (0..<10).map { _ in schedule.nextGap() }   // seconds
/// ```
public struct ArrivalSchedule: Sendable {
    public let rate: Double
    public let burstiness: Double
    private var random: SeededRandom

    /// `rate` in requests per second; `.infinity` sends everything at once.
    public init(rate: Double, burstiness: Double, seed: UInt64) {
        self.rate = rate
        self.burstiness = burstiness
        random = SeededRandom(seed: seed)
    }

    /// Seconds until the next request.
    public mutating func nextGap() -> Double {
        guard rate.isFinite else { return 0 }
        return gamma(shape: burstiness) / (rate * burstiness)
    }

    /// A uniform draw in (0, 1).
    private mutating func uniform() -> Double {
        (Double(random.next() >> 11) + 0.5) * (1.0 / 9_007_199_254_740_992.0)
    }

    private mutating func normal() -> Double {
        sqrt(-2 * log(uniform())) * cos(2 * Double.pi * uniform())
    }

    /// Gamma(shape, scale 1) by Marsaglia and Tsang's method; shapes below 1 use the boost `U^(1/shape)`.
    private mutating func gamma(shape: Double) -> Double {
        if shape < 1 { return gamma(shape: shape + 1) * pow(uniform(), 1 / shape) }
        let d = shape - 1.0 / 3.0
        let c = 1 / sqrt(9 * d)
        while true {
            let x = normal()
            let v = pow(1 + c * x, 3)
            guard v > 0 else { continue }
            if log(uniform()) < 0.5 * x * x + d - d * v + d * log(v) { return d * v }
        }
    }
}
