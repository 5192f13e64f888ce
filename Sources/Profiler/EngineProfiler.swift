import CoreUtilities
import Dispatch
import Engine
import Foundation
import Models
import ServingAPI
import Simulator
import Synchronization

/// Times the steps `LLMEngine` runs — scheduling, the batched forward over its paged KV cache,
/// sampling and streaming — by serving requests shaped so that one step holds prefill batches of
/// whole prompts, decode steps at given batch sizes and context lengths, or both mixed, and
/// reading each step's shape and duration from ``EngineConfig/onStep``.
///
/// Requests that must share a step are submitted from the step hook, between two steps, so the
/// engine takes them in one: each measurement starts with a one-token trigger request whose
/// step submits the shaped ones.
///
/// ```swift
/// let recorder = EngineProfiler.Recorder()
/// let engine = try LLMEngine(directory: url, config: EngineProfiler.engineConfig(settings, model: textConfig, recorder: recorder))
/// let profiler = EngineProfiler(engine: engine, recorder: recorder, settings: settings)
/// let prefill = try await profiler.prefillPoints()
/// ```
public struct EngineProfiler: Sendable {
    public let engine: LLMEngine
    public let recorder: Recorder
    public let settings: ProfileSettings

    public init(engine: LLMEngine, recorder: Recorder, settings: ProfileSettings) {
        self.engine = engine
        self.recorder = recorder
        self.settings = settings
    }

    /// Records the engine's steps and submits requests between two steps, when a step meets the
    /// next queued condition.
    public final class Recorder: Sendable {
        struct Action {
            var when: @Sendable (EngineStep) -> Bool
            var submit: @Sendable () throws -> [AsyncThrowingStream<InferenceEvent, any Error>]
        }

        struct State {
            var steps: [EngineStep] = []
            var actions: [Action] = []
            var streams: [AsyncThrowingStream<InferenceEvent, any Error>] = []
            var failure: String?
            /// Measurements so far: each draws its prompts from its own seed, so no prompt
            /// repeats an earlier one and hits the prefix cache.
            var measurements: UInt64 = 0
        }

        let state = Mutex(State())

        public init() {}

        /// The engine's step hook.
        func record(_ step: EngineStep) {
            let action = state.withLock { s -> Action? in
                s.steps.append(step)
                guard let next = s.actions.first, next.when(step) else { return nil }
                s.actions.removeFirst()
                return next
            }
            guard let action else { return }
            do {
                let streams = try action.submit()
                state.withLock { $0.streams += streams }
            } catch {
                state.withLock { $0.failure = "\(error)" }
            }
        }
    }

    /// The engine configuration of a profile: the serving step limits, and a KV cache that holds
    /// every measured shape at once (the cost model's KV capacity is `settings.kvCacheMemoryBytes`).
    public static func engineConfig(_ settings: ProfileSettings, model: LanguageModelConfig, recorder: Recorder) -> EngineConfig {
        var config = EngineConfig()
        config.scheduler = settings.scheduler
        config.blockSize = settings.blockSize
        let sequences = min(settings.batchSizes.max() ?? 1, settings.scheduler.maxRunningRequests) + 2
        let prompt = min(settings.promptLengths.max() ?? 1, model.maxPositionEmbeddings)
        let longest = prompt + settings.runs + 3 + sequences * prompt / settings.scheduler.maxBatchedTokens
        let blocks = sequences * ((longest + settings.blockSize - 1) / settings.blockSize)
        config.kvCacheMemoryBytes = max(settings.kvCacheMemoryBytes, blocks * PagedKVCache.bytesPerBlock(config: model, blockSize: settings.blockSize))
        config.prefixCaching = false
        config.onStep = { recorder.record($0) }
        return config
    }

    var maxPosition: Int { engine.servedModel.contextLength }

    /// Prompt lengths that fit the model's context, sorted.
    var usableLengths: [Int] { Set(settings.promptLengths.filter { $0 < maxPosition }).sorted() }

    /// Batch sizes the engine can run at once, sorted.
    var usableBatches: [Int] { Set(settings.batchSizes.filter { $0 <= settings.scheduler.maxRunningRequests }).sorted() }

    /// One point per (batch size, prompt length) whose tokens fit one step's budget: `batch`
    /// prompts prefilled in one step to their first token.
    public func prefillPoints() async throws -> [CostModel.Measurements.Prefill] {
        try settings.validate()
        let shapes = usableLengths.flatMap { length in
            usableBatches.filter { $0 * length <= settings.scheduler.maxBatchedTokens }.map { (batch: $0, length: length) }
        }
        guard shapes.count >= 3 else { throw ProfileError.tooFewPoints(stage: "prefill", points: shapes.count, needed: 3) }
        var points: [CostModel.Measurements.Prefill] = []
        for shape in shapes {
            var times: [Double] = []
            for _ in 0 ... settings.runs {
                let steps = try await measure([(after: { _ in true }, requests: (0 ..< shape.batch).map { _ in (prompt: shape.length, tokens: 1) })])
                let step = try Self.step(in: steps, stage: "prefill") { $0.prefillSequences == shape.batch && $0.prefillTokens == shape.batch * shape.length }
                times.append(step.seconds * 1000)
            }
            points.append(.init(sequences: shape.batch, tokens: shape.batch * shape.length,
                                squaredLengths: Double(shape.batch) * Double(shape.length * shape.length), ms: Self.medianAfterWarmUp(times)))
        }
        return points
    }

    /// One point per (batch size, context length): `batch` requests of `context`-token prompts,
    /// then their decode steps (one token each), the first untimed.
    public func decodePoints() async throws -> [CostModel.Measurements.Decode] {
        try settings.validate()
        let contexts = decodeContexts
        let batches = usableBatches
        guard contexts.count * batches.count >= 3 else {
            throw ProfileError.tooFewPoints(stage: "decode", points: contexts.count * batches.count, needed: 3)
        }
        var points: [CostModel.Measurements.Decode] = []
        for context in contexts {
            for batch in batches {
                // Prompts over the step's budget are prefilled in chunks, and the first finished
                // ones decode meanwhile: each generates enough that `runs` + 1 steps decode all.
                let tokens = min(settings.runs + 1 + chunks(batch * context), maxPosition - context - 1)
                let steps = try await measure([(after: { _ in true }, requests: (0 ..< batch).map { _ in (prompt: context, tokens: tokens) })])
                let decodes = steps.filter { $0.decodeSequences == batch && $0.prefillSequences == 0 }
                guard decodes.count >= 2 else {
                    throw ProfileError.modelFailed("the engine ran \(decodes.count) decode steps of \(batch) sequences, not the \(settings.runs + 1) set up")
                }
                let timed = decodes.dropFirst().prefix(settings.runs)
                points.append(.init(batch: batch, contextTokens: timed.reduce(0) { $0 + $1.contextTokens } / timed.count,
                                    ms: ProfileStatistics.median(timed.map { $0.seconds * 1000 })))
            }
        }
        return points
    }

    /// Steps as the engine runs them when a prompt arrives while others decode: `batch`
    /// requests at the middle context length are prefilled, and one new prompt of each length
    /// joins their first decode step, within the step's token budget, prefill cap while decoding
    /// and running-request limit.
    public func mixedPoints() async throws -> [CostModel.Measurements.Mixed] {
        try settings.validate()
        let contexts = decodeContexts
        guard !contexts.isEmpty else { return [] }
        let context = contexts[contexts.count / 2]
        let limits = settings.scheduler
        let shapes = usableLengths.flatMap { length in
            usableBatches.filter { $0 + 1 <= limits.maxRunningRequests && $0 + length <= limits.maxBatchedTokens
                && length <= limits.maxPrefillTokensWhileDecoding && $0 * context <= limits.maxBatchedTokens }
                .map { (batch: $0, length: length) }
        }
        var points: [CostModel.Measurements.Mixed] = []
        for shape in shapes {
            var times: [Double] = []
            for _ in 0 ... settings.runs {
                let decoders = shape.batch * context
                let steps = try await measure([
                    (after: { _ in true }, requests: (0 ..< shape.batch).map { _ in (prompt: context, tokens: 2) }),
                    (after: { $0.prefillTokens == decoders }, requests: [(prompt: shape.length, tokens: 1)]),
                ])
                let step = try Self.step(in: steps, stage: "mixed") {
                    $0.decodeSequences == shape.batch && $0.contextTokens == shape.batch * (context + 1)
                        && $0.prefillSequences == 1 && $0.prefillTokens == shape.length
                }
                times.append(step.seconds * 1000)
            }
            points.append(.init(batch: shape.batch, contextTokens: shape.batch * (context + 1), prefillTokens: shape.length,
                                squaredLengths: Double(shape.length * shape.length), ms: Self.medianAfterWarmUp(times)))
        }
        return points
    }

    /// Steps that prefill `tokens` prompt tokens within the step's budget.
    private func chunks(_ tokens: Int) -> Int {
        (tokens + settings.scheduler.maxBatchedTokens - 1) / settings.scheduler.maxBatchedTokens
    }

    /// Context lengths a decode step can run at, sorted.
    private var decodeContexts: [Int] { usableLengths.filter { $0 + settings.runs + 2 < maxPosition } }

    /// Serves a one-token trigger request; each stage's requests (prompt length, tokens to
    /// generate) are submitted between two steps, after the first step that meets its condition
    /// (the first stage's: the trigger's step). Returns every step the engine ran until all finished.
    private func measure(_ stages: [(after: @Sendable (EngineStep) -> Bool, requests: [(prompt: Int, tokens: Int)])]) async throws -> [EngineStep] {
        var random = SeededRandom(seed: recorder.state.withLock { s in
            s.measurements += 1
            return s.measurements
        })
        let vocab = UInt64(engine.promptLimits.vocabSize)
        func request(_ length: Int, tokens: Int) -> InferenceRequest {
            InferenceRequest(prompt: .tokens((0 ..< length).map { _ in Int(random.next() % vocab) }),
                             parameters: SamplingParameters(temperature: 0, maxTokens: tokens, ignoreStopTokens: true))
        }
        let prepared = stages.map { stage in (stage.after, stage.requests.map { request($0.prompt, tokens: $0.tokens) }) }
        let expected = stages.reduce(0) { $0 + $1.requests.count }
        let engine = engine
        recorder.state.withLock { s in
            s.steps = []
            s.streams = []
            s.actions = prepared.map { after, requests in
                Recorder.Action(when: after, submit: { try requests.map { try engine.submit($0) } })
            }
        }
        for try await _ in try engine.submit(request(1, tokens: 1)) {}
        // The last stage is submitted from a step hook, which may run after the trigger's stream ended.
        while recorder.state.withLock({ $0.streams.count < expected && $0.failure == nil }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        let (streams, failure) = recorder.state.withLock { ($0.streams, $0.failure) }
        if let failure { throw ProfileError.modelFailed("the engine refused a profiling request: \(failure)") }
        for stream in streams {
            for try await _ in stream {}
        }
        return recorder.state.withLock { $0.steps }
    }

    /// The one step of `steps` that `matches`.
    private static func step(in steps: [EngineStep], stage: String, _ matches: (EngineStep) -> Bool) throws -> EngineStep {
        guard let step = steps.first(where: matches) else {
            throw ProfileError.modelFailed("the engine did not run the \(stage) step that was set up (steps: \(steps))")
        }
        return step
    }

    /// The median of all but the first (warm-up) time.
    private static func medianAfterWarmUp(_ times: [Double]) -> Double {
        ProfileStatistics.median(Array(times.dropFirst()))
    }
}
