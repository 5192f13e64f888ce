/// How many prompt tokens an engine step that also decodes may carry when each such step should take
/// at most a target time, and whether it may admit waiting requests (Sarathi-Serve §4.3: the chunk
/// size comes from a step-time budget, so the prompts that arrive bound the inter-token latency of
/// the requests already decoding). The live scheduler asks it with the step times its engine
/// measured (an online fit), the simulator's instances with their cost model's step times; the
/// target is `--step-time-target-ms` on a server or worker and `stepTimeTargetMs` in a topology or a
/// simulated system (a ``PolicySpec`` field), 50 ms by default on all, 0 turning it off.
///
/// The step's prompt tokens are the most its predicted time allows beside the decodes, at most
/// `cap` (the step's token budget). When decoding alone fills the time, nothing is admitted (the
/// running batch is as large as the target allows) and running prefills advance by
/// `minimumChunk` tokens a step (one KV block), so they finish. A model too slow for the target
/// gets twice its one-sequence decode step instead, so it still batches. Until the step times
/// are known, the cap alone applies.
///
/// ```swift
/// let budget = StepTimeBudget(milliseconds: 50)
/// // 10 ms a step, 2 ms a prompt token, 4.5 ms a decoding sequence: (50 − 10 − 9) / 2 → 15 tokens.
/// let room = budget.room(decoding: 2, cap: 512, minimumChunk: 4) { 0.010 + 0.002 * Double($0) + 0.0045 * Double($1) }
/// // room == StepTimeBudget.Room(tokens: 15, admits: true)
/// ```
public struct StepTimeBudget: Sendable, Hashable {
    /// Seconds a step that decodes should take at most; nil: no limit by time.
    public var target: Double?

    public init(target: Double?) {
        self.target = target
    }

    /// The target as the options give it, in milliseconds; 0 turns it off.
    public init(milliseconds: Double) {
        self.init(target: milliseconds > 0 ? milliseconds / 1000 : nil)
    }

    /// What one step may carry besides its decodes.
    public struct Room: Sendable, Hashable {
        /// Prompt tokens: chunks of running prefills and new admissions together.
        public var tokens: Int
        /// Whether the step may admit waiting requests.
        public var admits: Bool

        public init(tokens: Int, admits: Bool) {
            self.tokens = tokens
            self.admits = admits
        }
    }

    /// The room of a step that decodes `decoding` sequences (at least one).
    ///
    /// - Parameters:
    ///   - cap: the most prompt tokens the step's token budget leaves.
    ///   - minimumChunk: the prompt tokens a step carries even when decoding fills the time.
    ///   - seconds: the predicted seconds of a step with this many prompt tokens and decoding
    ///     sequences, growing with the prompt tokens; nil while unknown.
    public func room(decoding: Int, cap: Int, minimumChunk: Int,
                     seconds: (_ promptTokens: Int, _ decodeSequences: Int) -> Double?) -> Room {
        guard let target, cap > 0, let single = seconds(0, 1), let decodingAlone = seconds(0, decoding) else {
            return Room(tokens: cap, admits: true)
        }
        let limit = max(target, 2 * single)
        // The most prompt tokens in 0 ... cap whose step fits the limit.
        var fits = 0
        if decodingAlone <= limit {
            var high = cap
            while fits < high {
                let middle = fits + (high - fits + 1) / 2
                if let s = seconds(middle, decoding), s <= limit { fits = middle } else { high = middle - 1 }
            }
        }
        return Room(tokens: min(cap, max(fits, minimumChunk)), admits: fits > 0)
    }
}
