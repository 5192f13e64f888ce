import Foundation

/// The training noise schedule in float32, computed as `diffusers` does with torch: betas from
/// `torch.linspace` (each value start + step·i or end − step·(n−1−i), fused, as ATen's kernel),
/// squared for `scaled_linear`; ᾱ by `torch.cumprod` (accumulated in double, stored as float).
struct NoiseSchedule: Sendable {
    /// ᾱₜ for t = 0 ..< numTrainTimesteps.
    let alphasCumprod: [Float]

    init(_ config: SchedulerConfig) {
        let n = config.numTrainTimesteps
        let betas: [Float]
        if let trained = config.trainedBetas {
            betas = trained.map { Float($0) }
        } else if config.betaSchedule == "scaled_linear" {
            betas = Self.torchLinspace(Float(config.betaStart.squareRoot()), Float(config.betaEnd.squareRoot()), n).map { $0 * $0 }
        } else {
            betas = Self.torchLinspace(Float(config.betaStart), Float(config.betaEnd), n)
        }
        var product = 1.0
        alphasCumprod = betas.map { beta in
            product *= Double(1 - beta)
            return Float(product)
        }
    }

    /// `torch.linspace(start, end, count, dtype=torch.float32)` on the CPU.
    static func torchLinspace(_ start: Float, _ end: Float, _ count: Int) -> [Float] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (end - start) / Float(count - 1)
        let halfway = count / 2
        return (0 ..< count).map { i in
            i < halfway ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(count - i - 1))
        }
    }

    /// σₜ = √((1 − ᾱₜ)/ᾱₜ) in float32, ascending in t.
    var sigmas: [Float] { alphasCumprod.map { ((1 - $0) / $0).squareRoot() } }
}

/// The numpy operations `diffusers` builds timestep lists and sigma tables with, reproduced in float64.
enum NumPy {
    /// `np.linspace(start, stop, count)`.
    static func linspace(_ start: Double, _ stop: Double, _ count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (stop - start) / Double(count - 1)
        var values = (0 ..< count).map { Double($0) * step + start }
        values[count - 1] = stop
        return values
    }

    /// `np.arange(start, stop, step)` for float arguments: ⌈(stop − start)/step⌉ values start + i·δ,
    /// with δ recomputed as (start + step) − start as numpy's fill does.
    static func arange(_ start: Double, _ stop: Double, _ step: Double) -> [Double] {
        let count = max(0, Int(((stop - start) / step).rounded(.up)))
        guard count > 1 else { return count == 1 ? [start] : [] }
        let delta = (start + step) - start
        return (0 ..< count).map { start + Double($0) * delta }
    }

    /// `np.round` (half to even).
    static func round(_ value: Double) -> Double { value.rounded(.toNearestOrEven) }

    /// `np.interp(x, arange(len(table)), table)`.
    static func interp(_ x: Double, _ table: [Float]) -> Double {
        let last = table.count - 1
        if x <= 0 { return Double(table[0]) }
        if x >= Double(last) { return Double(table[last]) }
        let j = Int(x.rounded(.down))
        if x == Double(j) { return Double(table[j]) }
        let slope = (Double(table[j + 1]) - Double(table[j])) / 1.0
        return slope * (x - Double(j)) + Double(table[j])
    }

    /// Karras et al. (2022) sigmas between `sigmaMin` and `sigmaMax` (ρ = 7), in float64.
    static func karras(sigmaMin: Double, sigmaMax: Double, count: Int) -> [Double] {
        let rho = 7.0
        let minInvRho = pow(sigmaMin, 1 / rho)
        let maxInvRho = pow(sigmaMax, 1 / rho)
        return linspace(0, 1, count).map { pow(maxInvRho + $0 * (minInvRho - maxInvRho), rho) }
    }

    /// The fractional training timestep of `sigma` by interpolating log σ (`_sigma_to_t`).
    static func sigmaToT(_ sigma: Double, logSigmas: [Float]) -> Double {
        let logSigma = log(max(sigma, 1e-10))
        // The last index whose log σ is ≤ log sigma, clipped so a higher neighbour exists.
        var count = 0
        for value in logSigmas where logSigma - Double(value) >= 0 { count += 1 }
        let low = min(max(count - 1, 0), logSigmas.count - 2)
        let lowValue = Double(logSigmas[low])
        let highValue = Double(logSigmas[low + 1])
        let w = min(max((lowValue - logSigma) / (lowValue - highValue), 0), 1)
        return (1 - w) * Double(low) + w * Double(low + 1)
    }
}
