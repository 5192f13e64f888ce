import CoreUtilities
import Foundation
import ServingAPI

/// Chooses the next token from a row of logits, following vLLM's order of operations:
/// penalties, temperature, min-p, then top-k and top-p, then a seeded draw.
///
/// Log-probabilities are reported from the raw logits, before penalties and filters, as vLLM does.
///
/// ```swift
/// var sampler = Sampler(SamplingParameters(temperature: 0.8, topP: 0.95, seed: 7))
/// let token = sampler.sample(logits)
/// ```
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: SeededRandom
    /// How often each token appeared in the output so far, for presence/frequency penalties.
    private var outputCounts: [Int: Int] = [:]

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        random = SeededRandom(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
    }

    /// Picks a token and records it as part of the output.
    public mutating func sample(_ logits: [Float]) -> Int {
        let penalised = applyingPenalties(logits)
        let token = parameters.isGreedy ? Self.argmax(penalised) : draw(penalised)
        outputCounts[token, default: 0] += 1
        return token
    }

    private func applyingPenalties(_ logits: [Float]) -> [Float] {
        let presence = parameters.presencePenalty, frequency = parameters.frequencyPenalty
        guard presence != 0 || frequency != 0, !outputCounts.isEmpty else { return logits }
        var out = logits
        for (token, count) in outputCounts where token < out.count {
            out[token] -= presence + frequency * Float(count)
        }
        return out
    }

    private mutating func draw(_ logits: [Float]) -> Int {
        let invT = 1 / parameters.temperature
        let maxLogit = logits.max() ?? 0
        // min-p against the most likely token: p_i / p_max >= min_p  <=>  l_i >= l_max + T·ln(min_p).
        let floor = parameters.minP > 0 ? maxLogit + parameters.temperature * log(parameters.minP) : -Float.infinity
        var candidates = logits.indices.filter { logits[$0] >= floor && logits[$0] > -.infinity }
        if candidates.isEmpty { return Self.argmax(logits) }

        let needsOrder = parameters.topK > 0 || parameters.topP < 1
        if needsOrder {
            candidates.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            if parameters.topK > 0, candidates.count > parameters.topK {
                candidates.removeSubrange(parameters.topK...)
            }
        }
        var weights = candidates.map { Double(exp((logits[$0] - maxLogit) * invT)) }
        if parameters.topP < 1 {
            let total = weights.reduce(0, +)
            var cumulative = 0.0, keep = 0
            // Keep the smallest prefix whose mass reaches top_p; always at least one token.
            while keep < weights.count {
                cumulative += weights[keep]
                keep += 1
                if cumulative >= Double(parameters.topP) * total { break }
            }
            candidates.removeSubrange(keep...)
            weights.removeSubrange(keep...)
        }
        let total = weights.reduce(0, +)
        let target = Double(random.nextUnitFloat()) * total
        var cumulative = 0.0
        for (i, w) in weights.enumerated() {
            cumulative += w
            if target < cumulative { return candidates[i] }
        }
        return candidates[candidates.count - 1]
    }

    /// The index of the largest value; the lowest index wins ties, as `torch.argmax` does.
    public static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }

    /// log-softmax of `logits` at `id` and the `n` most likely tokens, computed in double precision.
    public static func logprobs(_ logits: [Float], chosen id: Int, top n: Int) -> (chosen: Float, top: [TokenLogprob]) {
        let maxLogit = logits.max() ?? 0
        var sum = 0.0
        for l in logits { sum += exp(Double(l - maxLogit)) }
        let logZ = Double(maxLogit) + log(sum)
        let top = topIndices(logits, n).map { TokenLogprob(id: $0, logprob: Float(Double(logits[$0]) - logZ)) }
        return (Float(Double(logits[id]) - logZ), top)
    }

    /// The `n` largest entries in descending order (ties by lower index), in one pass.
    static func topIndices(_ values: [Float], _ n: Int) -> [Int] {
        guard n > 0 else { return [] }
        var best: [Int] = []
        best.reserveCapacity(n + 1)
        for i in values.indices {
            if best.count == n, let last = best.last, values[i] <= values[last] { continue }
            var at = best.count
            while at > 0, values[best[at - 1]] < values[i] { at -= 1 }
            best.insert(i, at: at)
            if best.count > n { best.removeLast() }
        }
        return best
    }
}
