import ServingAPI

extension Fixtures {
    /// What a finished token stream produced.
    public struct Collected: Sendable {
        public var ids: [Int] = []
        public var text = ""
        /// The sampled tokens' logprobs, one per id when logprobs were requested.
        public var logprobs: [Float] = []
        public var info: FinishInfo?
    }

    /// Reads `stream` to its end; `onDelta` sees the count of tokens so far after each delta.
    ///
    /// ```swift
    /// let out = try await Fixtures.collect(try engine.submit(request))
    /// #expect(out.ids == prompt.greedy_token_ids)
    /// ```
    public static func collect(_ stream: AsyncThrowingStream<InferenceEvent, any Error>,
                               onDelta: (Int) -> Void = { _ in }) async throws -> Collected {
        var out = Collected()
        for try await event in stream {
            switch event {
            case let .delta(d):
                out.ids += d.tokenIds
                out.text += d.text
                out.logprobs += d.logprobs.map(\.token.logprob)
                onDelta(out.ids.count)
            case let .finished(f): out.info = f
            }
        }
        return out
    }

    /// Polls `condition` every `interval` until it holds or `seconds` pass; whether it held.
    /// The default is long because the conditions wait on processes starting and loading models,
    /// which on a loaded two-core machine (the worker suites run in parallel) took over 10 s.
    public static func eventually(_ seconds: Double = 60, every interval: Duration = .milliseconds(10),
                                  _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: interval)
        }
        return condition()
    }
}
