import CoreUtilities
import Foundation
import Models
import ServingAPI

/// Measures an engine's throughput the way `llama-bench` does, on the path the server runs
/// (`LLMEngine`: scheduler, paged KV, sampler): prefill of `promptTokens` random tokens (a fresh
/// prompt each run, so the prefix cache never hits) to one greedy token, and greedy decode of
/// `generatedTokens` tokens one at a time after a one-token prompt. Each phase runs `runs` times
/// after one warm-up; medians are reported.
///
/// ```swift
/// let engine = try LLMEngine(directory: url, config: EngineBenchmark(promptTokens: 512).engineConfig(model: textConfig))
/// let result = try await EngineBenchmark(promptTokens: 512).run(engine: engine)
/// ```
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

    /// An engine configuration for one request at a time of this benchmark's sizes on `model`:
    /// the whole prompt in one step, a KV cache just large enough.
    public func engineConfig(model: LanguageModelConfig) -> EngineConfig {
        var config = EngineConfig()
        let length = min(model.maxPositionEmbeddings, max(promptTokens, generatedTokens) + 1)
        config.maxModelLength = length
        config.kvCacheMemoryBytes = PagedKVCache.bytesPerBlock(config: model, blockSize: config.blockSize)
            * ((length + config.blockSize - 1) / config.blockSize)
        config.scheduler = SchedulerConfig(maxBatchedTokens: max(promptTokens, 1), maxRunningRequests: 1)
        return config
    }

    public func run(engine: LLMEngine, seed: UInt64 = 0) async throws -> Result {
        var random = SeededRandom(seed: seed)
        let vocab = engine.promptLimits.vocabSize
        func request(_ count: Int, tokens: Int) -> InferenceRequest {
            InferenceRequest(prompt: .tokens((0 ..< count).map { _ in Int(random.next() % UInt64(vocab)) }),
                             parameters: SamplingParameters(temperature: 0, maxTokens: tokens, ignoreStopTokens: true))
        }
        func timed(_ request: InferenceRequest) async throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            for try await _ in try engine.submit(request) {}
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        _ = try await timed(request(promptTokens, tokens: 1))
        _ = try await timed(request(1, tokens: generatedTokens))
        var prefillTimes: [Double] = []
        var decodeTimes: [Double] = []
        for _ in 0 ..< runs { prefillTimes.append(try await timed(request(promptTokens, tokens: 1))) }
        for _ in 0 ..< runs { decodeTimes.append(try await timed(request(1, tokens: generatedTokens))) }
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
