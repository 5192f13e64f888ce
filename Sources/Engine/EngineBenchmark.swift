import CoreUtilities
import Foundation
import Models

/// Measures raw model throughput the way `llama-bench` does: prefill of `promptTokens` random tokens
/// into an empty cache, and greedy decode of `generatedTokens` tokens one at a time from an empty
/// cache. Each phase runs `runs` times after one warm-up; medians are reported.
public struct EngineBenchmark: Sendable {
    public var promptTokens: Int
    public var generatedTokens: Int
    public var runs: Int

    public init(promptTokens: Int = 512, generatedTokens: Int = 128, runs: Int = 5) {
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.runs = runs
    }

    public struct Result: Sendable, Codable {
        public var prefillTokensPerSecond: Double
        public var decodeTokensPerSecond: Double
        public var prefillSeconds: [Double]
        public var decodeSeconds: [Double]
    }

    public func run(model: any CausalLanguageModel, seed: UInt64 = 0) throws -> Result {
        var random = SeededRandom(seed: seed)
        let vocab = model.config.vocabSize
        let prompt = (0 ..< promptTokens).map { _ in Int(random.next() % UInt64(vocab)) }
        let cache = model.makeCache(capacity: max(promptTokens, generatedTokens))

        func prefill() throws -> Double {
            cache.reset()
            return try Self.seconds { _ = try model.forward(prompt, cache: cache, allLogits: false) }
        }
        func decode() throws -> Double {
            cache.reset()
            var token = prompt[0]
            return try Self.seconds {
                for _ in 0 ..< generatedTokens {
                    token = Sampler.argmax(try model.forward([token], cache: cache, allLogits: false)[0])
                }
            }
        }
        _ = try prefill()
        _ = try decode()
        let prefillTimes = try (0 ..< runs).map { _ in try prefill() }
        let decodeTimes = try (0 ..< runs).map { _ in try decode() }
        return Result(
            prefillTokensPerSecond: Double(promptTokens) / Self.median(prefillTimes),
            decodeTokensPerSecond: Double(generatedTokens) / Self.median(decodeTimes),
            prefillSeconds: prefillTimes,
            decodeSeconds: decodeTimes
        )
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
