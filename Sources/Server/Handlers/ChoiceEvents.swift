import Hummingbird
import ServingAPI

/// An engine event of one choice of a fanned-out request, stamped with when the server saw it.
struct ChoiceEvent: Sendable {
    var index: Int
    var event: InferenceEvent
    var time: ContinuousClock.Instant
}

/// The events of a request's choices, in the order the engine produced them.
///
/// One choice (the usual case) is read straight from its engine stream; several are merged by a
/// task per choice, one more hand-off per event. Dropping the sequence early (the client left, a
/// write failed) ends every engine stream, which aborts those requests and frees their KV blocks.
struct ChoiceEvents: AsyncSequence, Sendable {
    typealias Element = ChoiceEvent
    private let single: AsyncThrowingStream<InferenceEvent, any Error>?
    private let merged: AsyncThrowingStream<ChoiceEvent, any Error>?

    init(_ streams: [AsyncThrowingStream<InferenceEvent, any Error>]) {
        single = streams.count == 1 ? streams[0] : nil
        merged = streams.count == 1 ? nil : Self.merge(streams)
    }

    /// Submits every request, or none: when the engine refuses one, the ones it already admitted
    /// are dropped (and so aborted) before the error is thrown.
    static func submit(_ requests: [InferenceRequest], to engine: any InferenceEngine) throws(APIError) -> ChoiceEvents {
        var streams: [AsyncThrowingStream<InferenceEvent, any Error>] = []
        for request in requests {
            do {
                streams.append(try engine.submit(request))
            } catch {
                throw APIError(error)
            }
        }
        return ChoiceEvents(streams)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate var single: AsyncThrowingStream<InferenceEvent, any Error>.Iterator?
        fileprivate var merged: AsyncThrowingStream<ChoiceEvent, any Error>.Iterator?

        mutating func next() async throws -> ChoiceEvent? {
            guard single != nil else { return try await merged?.next() }
            guard let event = try await single?.next() else { return nil }
            return ChoiceEvent(index: 0, event: event, time: .now)
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(single: single?.makeAsyncIterator(), merged: merged?.makeAsyncIterator())
    }

    private static func merge(_ streams: [AsyncThrowingStream<InferenceEvent, any Error>]) -> AsyncThrowingStream<ChoiceEvent, any Error> {
        let (merged, continuation) = AsyncThrowingStream.makeStream(of: ChoiceEvent.self)
        let task = Task {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, stream) in streams.enumerated() {
                        group.addTask {
                            for try await event in stream {
                                continuation.yield(ChoiceEvent(index: index, event: event, time: .now))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return merged
    }
}

/// Per-choice timelines of a request, recorded into the metrics once it ends (finished or not).
final class ChoiceTracker: @unchecked Sendable {
    private var timelines: [RequestTimeline]
    private(set) var finishes: [FinishInfo?]
    private let metrics: ServerMetrics

    /// Used by one handler task at a time; `@unchecked` because the SSE body closure captures it.
    init(count: Int, arrival: ContinuousClock.Instant, metrics: ServerMetrics) {
        timelines = Array(repeating: RequestTimeline(arrival: arrival), count: count)
        finishes = Array(repeating: nil, count: count)
        self.metrics = metrics
    }

    func record(_ event: ChoiceEvent) {
        switch event.event {
        case .delta: timelines[event.index].recordDelta(at: event.time)
        case let .finished(info):
            timelines[event.index].recordFinish(at: event.time)
            finishes[event.index] = info
        }
    }

    /// Records every choice into the metrics; choices without a finish count as aborted.
    func close() {
        for (timeline, finish) in zip(timelines, finishes) { metrics.recordRequest(timeline, finish: finish) }
    }

    /// A streamed answer: `send` writes its server-sent events; the choices are recorded into the
    /// metrics when it ends.
    func stream(_ send: @escaping @Sendable (any ResponseBodyWriter) async throws -> Void) -> Response {
        Response(status: .ok, headers: ServerSentEvents.headers, body: ResponseBody { writer in
            defer { self.close() }
            try await send(writer)
        })
    }

    /// Reads every event of a non-streamed answer, recording each and handing each delta to `body`
    /// with its choice's index; a failure is thrown as the API error it stands for.
    func collect(_ events: ChoiceEvents, watch: ClientWatch, _ body: (Int, TokenDelta) -> Void) async throws {
        do {
            for event in try await watch.collect(events) {
                record(event)
                if case let .delta(delta) = event.event { body(event.index, delta) }
            }
        } catch {
            throw OpenAIService.error(from: error)
        }
    }

    /// Usage over all choices: prompts counted once per prompt (every `n`-th choice).
    func usage(choicesPerPrompt n: Int) -> Usage {
        var usage = Usage(promptTokens: 0, completionTokens: 0, cachedTokens: 0)
        for (index, finish) in finishes.enumerated() {
            guard let finish else { continue }
            usage.completionTokens += finish.completionTokens
            if index % n == 0 {
                usage.promptTokens += finish.promptTokens
                usage.cachedTokens += finish.cachedTokens
            }
        }
        return usage
    }
}
