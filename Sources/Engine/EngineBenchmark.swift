import CoreUtilities
import Foundation
import Grammar
import Models
import ServingAPI

/// Measures an engine's throughput the way `llama-bench` does, on the path the server runs
/// (`LLMEngine`: scheduler, paged KV, sampler): prefill of `promptTokens` random tokens (a fresh
/// prompt each run, so the prefix cache never hits) to one greedy token, and greedy decode of
/// `generatedTokens` tokens one at a time after a one-token prompt. Each phase runs `runs` times
/// after one warm-up; medians are reported. With a `grammar`, each decode run is paired with a run
/// constrained by it (alternating which goes first), so that both see the same machine load; their
/// inter-token latencies give the cost of the token mask per step.
///
/// ```swift
/// let engine = try LLMEngine(directory: url, config: EngineBenchmark(promptTokens: 512).engineConfig(model: textConfig))
/// let result = try await EngineBenchmark(promptTokens: 512).run(engine: engine)
/// ```
public struct EngineBenchmark: Sendable {
    public var promptTokens: Int
    public var generatedTokens: Int
    public var runs: Int
    public var grammar: GrammarSpec?

    public init(promptTokens: Int = 512, generatedTokens: Int = 128, runs: Int = 5, grammar: GrammarSpec? = nil) {
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.runs = runs
        self.grammar = grammar
    }

    public struct Result: Sendable, Codable {
        public var prefillTokensPerSecond: Double
        public var decodeTokensPerSecond: Double
        public var prefillSeconds: [Double]
        public var decodeSeconds: [Double]
        /// Mean seconds between tokens of each decode run, and of its constrained twin (with a grammar).
        public var interTokenSeconds: [Double]
        public var constrainedInterTokenSeconds: [Double]
        /// With a grammar: seconds to compute its masks ahead on one thread, how many, and whether that was all of them.
        public var maskPrecompute: MaskPrecompute?
    }

    public struct MaskPrecompute: Sendable, Codable {
        public var seconds: Double
        public var positions: Int
        public var complete: Bool
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
        func request(_ count: Int, tokens: Int, grammar: GrammarSpec? = nil) -> InferenceRequest {
            InferenceRequest(prompt: .tokens((0 ..< count).map { _ in Int(random.next() % UInt64(vocab)) }),
                             parameters: SamplingParameters(temperature: 0, maxTokens: tokens, ignoreStopTokens: true, grammar: grammar))
        }
        /// Wall seconds of the request and its mean inter-token latency.
        func timed(_ request: InferenceRequest) async throws -> (seconds: Double, interToken: Double) {
            let start = DispatchTime.now().uptimeNanoseconds
            var finish: FinishInfo?
            for try await event in try engine.submit(request) {
                if case let .finished(info) = event { finish = info }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            guard let finish, finish.completionTokens > 1 else { return (seconds, .nan) }
            return (seconds, (finish.timings.total - finish.timings.firstToken) / Double(finish.completionTokens - 1))
        }
        _ = try await timed(request(promptTokens, tokens: 1))
        _ = try await timed(request(1, tokens: generatedTokens))
        // What the engine's grammar cache starts on a thread of its own, timed here on a fresh copy.
        var maskPrecompute: MaskPrecompute?
        if let grammar, let compiled = try engine.tokenGrammar(SamplingParameters(grammar: grammar)) {
            let fresh = TokenGrammar(automaton: compiled.automaton, vocabulary: compiled.vocabulary)
            var outcome = (positions: 0, complete: false)
            let seconds = Self.seconds { outcome = fresh.precomputeMasks(limit: fresh.precomputeLimit) }
            maskPrecompute = MaskPrecompute(seconds: seconds, positions: outcome.positions, complete: outcome.complete)
        }
        // Positions the precompute has not reached yet get their masks when first reached.
        if let grammar { _ = try await timed(request(1, tokens: generatedTokens, grammar: grammar)) }
        var prefillTimes: [Double] = []
        var decodeTimes: [Double] = []
        var interToken: [Double] = []
        var constrainedInterToken: [Double] = []
        for _ in 0 ..< runs { prefillTimes.append(try await timed(request(promptTokens, tokens: 1)).seconds) }
        for run in 0 ..< runs {
            let constrainedFirst = grammar != nil && run % 2 == 1
            if constrainedFirst, let grammar {
                constrainedInterToken.append(try await timed(request(1, tokens: generatedTokens, grammar: grammar)).interToken)
            }
            let plain = try await timed(request(1, tokens: generatedTokens))
            decodeTimes.append(plain.seconds)
            interToken.append(plain.interToken)
            if !constrainedFirst, let grammar {
                constrainedInterToken.append(try await timed(request(1, tokens: generatedTokens, grammar: grammar)).interToken)
            }
        }
        return Result(
            prefillTokensPerSecond: Double(promptTokens) / Self.median(prefillTimes),
            decodeTokensPerSecond: Double(generatedTokens) / Self.median(decodeTimes),
            prefillSeconds: prefillTimes,
            decodeSeconds: decodeTimes,
            interTokenSeconds: interToken,
            constrainedInterTokenSeconds: constrainedInterToken,
            maskPrecompute: maskPrecompute
        )
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
