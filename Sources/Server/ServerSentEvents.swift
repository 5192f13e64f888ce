import Foundation
import Hummingbird

/// Writes an OpenAI-style event stream: `data: {json}\n\n` per chunk, then `data: [DONE]\n\n`.
struct ServerSentEvents {
    var writer: any ResponseBodyWriter
    let encoder = JSONEncoder.api

    mutating func send(_ value: some Encodable) async throws {
        try await send(raw: try encoder.encode(value))
    }

    mutating func send(raw json: Data) async throws {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        try await writer.write(buffer)
    }

    consuming func finish() async throws {
        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
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
