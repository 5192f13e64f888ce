import Foundation
import Hummingbird

/// Writes an OpenAI-style event stream: `data: {json}\n\n` per chunk, then `data: [DONE]\n\n`.
struct ServerSentEvents {
    var writer: any ResponseBodyWriter
    let encoder = JSONEncoder.api
    /// Chunks that go out with the next write.
    private var pending = ByteBuffer()

    init(writer: any ResponseBodyWriter) {
        self.writer = writer
    }

    mutating func send(_ value: some Encodable) async throws {
        try await send(raw: try encoder.encode(value))
    }

    mutating func send(raw json: Data) async throws {
        append(json)
        let buffer = pending
        pending = ByteBuffer()
        try await writer.write(buffer)
    }

    /// Queues a chunk to go out with the next one: the role chunks that open a stream travel with its
    /// first token, so the handler is not writing (a round trip to the event loop) when the token comes.
    mutating func hold(_ value: some Encodable) throws {
        append(try encoder.encode(value))
    }

    /// `hold` for JSON already serialized.
    mutating func hold(raw json: Data) {
        append(json)
    }

    private mutating func append(_ json: Data) {
        pending.writeString("data: ")
        pending.writeBytes(json)
        pending.writeString("\n\n")
    }

    consuming func finish() async throws {
        pending.writeString("data: [DONE]\n\n")
        try await writer.write(pending)
        try await writer.finish(nil)
    }

    static let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no",
    ]

    /// Iterates `events`, handing each to `body`; an engine failure mid-stream becomes an `error` event.
    /// A failed write (the client left) is rethrown, which ends the iteration and aborts the requests.
    static func forEach(
        _ events: ChoiceEvents, sse: inout ServerSentEvents,
        _ body: (ChoiceEvent, inout ServerSentEvents) async throws -> Void
    ) async throws -> Bool {
        var iterator = events.makeAsyncIterator()
        while true {
            let next: ChoiceEvent?
            do {
                next = try await iterator.next()
            } catch {
                try await sse.send(raw: OpenAIService.error(from: error).jsonBody)
                return false
            }
            guard let next else { return true }
            try await body(next, &sse)
        }
    }
}
