import Hummingbird
import NIOCore
import Synchronization

/// The request context of the API's routes: Hummingbird's basic one plus the connection's channel,
/// through which a handler learns that its client hung up.
public struct ConnectionContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Completes `closed` when the client stops sending: its half of the connection closed (the
/// server keeps remote half-closure on, so the channel itself stays open) or the whole channel.
final class InputClosedHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    private let promise = Mutex<EventLoopPromise<Void>?>(nil)

    /// Completes once the client stops sending; nil before the handler joined a pipeline.
    var closed: EventLoopFuture<Void>? { promise.withLock { $0?.futureResult } }

    func handlerAdded(context: ChannelHandlerContext) {
        promise.withLock { $0 = context.eventLoop.makePromise() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise.withLock { $0?.succeed() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { promise.withLock { $0?.succeed() } }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.withLock { $0?.succeed() }
        context.fireChannelInactive()
    }
}

/// Cancels a wait on the engine when the client hangs up, for responses that write nothing until
/// generation ends (non-streaming ones). A stream needs no watch: its next write to a gone client
/// fails, which ends its engine requests. Watching the connection's `InputClosedHandler` (rather
/// than reading the connection past the request) leaves it free to carry the client's next request.
///
/// ```swift
/// let events = try await watch.collect(stream)   // cancelled if the client leaves first
/// ```
struct ClientWatch: Sendable {
    let channel: any Channel

    /// Runs `operation`, cancelled if the client stops sending first.
    func run<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let task = Task { try await operation() }
        let closed = try? await channel.pipeline.handler(type: InputClosedHandler.self).get().closed
        (closed ?? channel.closeFuture).whenComplete { _ in task.cancel() }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    /// Every event of `events`, read under the watch.
    func collect(_ events: ChoiceEvents) async throws -> [ChoiceEvent] {
        try await run {
            var all: [ChoiceEvent] = []
            for try await event in events { all.append(event) }
            return all
        }
    }
}
