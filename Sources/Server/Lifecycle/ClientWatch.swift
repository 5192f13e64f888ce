import Hummingbird
import NIOCore
import NIOHTTPTypes

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

/// Guards one HTTP/1.1 connection against clients that send slowly, stall, or leave:
///
/// - A request must arrive whole (head and body) within `readTimeout` of the connection opening or
///   the previous response ending; otherwise the connection closes. This bounds slowloris heads,
///   short bodies and idle keep-alive connections alike; time spent answering is not counted.
/// - `Expect: 100-continue` is answered with `100 Continue`, so such clients send their body.
/// - A client that half-closes after its request (`shutdown(SHUT_WR)`, legal HTTP/1.1) still gets
///   its answer. Its closing is indistinguishable from a client that left, so while the answer is
///   pending the connection is probed once a second with `100 Continue` (clients must skip 1xx
///   responses): a gone client's socket resets, the connection closes, and ``ClientWatch`` aborts
///   the request.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let readTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var probe: RepeatedTask?
    /// A request was read whole and its response has not started.
    private var awaitingResponse = false

    init(readTimeout: Duration) {
        self.readTimeout = .nanoseconds(Int64(readTimeout.components.seconds) * 1_000_000_000 + readTimeout.components.attoseconds / 1_000_000_000)
    }

    func handlerAdded(context: ChannelHandlerContext) { armDeadline(context) }

    func handlerRemoved(context: ChannelHandlerContext) { stopTimers() }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            if head.headerFields[.expect]?.lowercased() == "100-continue" { writeContinue(context) }
        case .body:
            break
        case .end:
            deadline?.cancel()
            deadline = nil
            awaitingResponse = true
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case let .head(response) where response.status.kind != .informational:
            awaitingResponse = false
            probe?.cancel()
            probe = nil
        case .end:
            armDeadline(context)
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, awaitingResponse, probe == nil {
            probe = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { [weak self] _ in
                guard let self, self.awaitingResponse else { return }
                self.writeContinue(context)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func writeContinue(_ context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenFailure { _ in context.close(promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: promise)
    }

    private func armDeadline(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = context.eventLoop.scheduleTask(in: readTimeout) { context.close(promise: nil) }
    }

    private func stopTimers() {
        deadline?.cancel()
        deadline = nil
        probe?.cancel()
        probe = nil
    }
}

/// Cancels a wait on the engine when the client hangs up, for responses that write nothing until
/// generation ends (non-streaming ones). A stream needs no watch: its next write to a gone client
/// fails, which ends its engine requests. The connection closing is the signal (see
/// ``ConnectionGuard`` for half-closed clients), so the connection stays free to carry the
/// client's next request.
///
/// ```swift
/// let events = try await watch.collect(stream)   // cancelled if the client leaves first
/// ```
struct ClientWatch: Sendable {
    let channel: any Channel

    /// Runs `operation`, cancelled if the connection closes first.
    func run<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let task = Task { try await operation() }
        channel.closeFuture.whenComplete { _ in task.cancel() }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    /// Every event of `events`, read under the watch. A watch cancelled by the client leaving
    /// throws: no answer is made up from the events read so far.
    func collect(_ events: ChoiceEvents) async throws -> [ChoiceEvent] {
        try await run {
            var all: [ChoiceEvent] = []
            for try await event in events { all.append(event) }
            try Task.checkCancellation()
            return all
        }
    }
}
