import Diffusion
import Foundation
import Models
import Synchronization
import Tensor
import WireProtocol

/// The client side of a CFG split: a connection from one diffusion worker to the peer that runs
/// its images' unconditional UNet rows (`predictNoise` out, `predictedNoise` back, every step).
/// Calls are answered in order per connection; a closed connection fails the calls still waiting.
///
/// ```swift
/// let peer = try GuidancePeerConnection(endpoint: job.guidancePeer!)
/// request.guidancePeer = peer
/// ```
public final class GuidancePeerConnection: GuidancePeer, @unchecked Sendable {
    public let endpoint: Endpoint
    private let connection: Connection
    private let calls = Mutex<Calls>(Calls())

    private struct Calls {
        var next = 0
        var waiting: [Int: Call] = [:]
        var closed = false
    }

    private final class Call: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        let shapes: [(height: Int, width: Int)]
        var result: Result<[FeatureMap], DiffusionError> = .failure(.invalidArgument("the CFG-split peer did not answer"))

        init(shapes: [(height: Int, width: Int)]) { self.shapes = shapes }
    }

    public init(endpoint: Endpoint) throws(TransportError) {
        self.endpoint = endpoint
        connection = try Connection.connect(to: endpoint)
        connection.startReading(name: "tessera-guidance-peer", onMessage: { [weak self] message, payload in
            self?.answer(message, payload)
        }, onClose: { [weak self] error in
            self?.failAll("the CFG-split peer at \(endpoint) went away: \(error)")
        })
    }

    public var isClosed: Bool { connection.isClosed }

    public func close() { connection.close() }

    public func predictNoise(_ rows: [DenoiserInput]) throws(DiffusionError) -> @Sendable () throws(DiffusionError) -> [FeatureMap] {
        let call = Call(shapes: rows.map { ($0.sample.height, $0.sample.width) })
        let id = calls.withLock { c -> Int? in
            guard !c.closed else { return nil }
            defer { c.next += 1 }
            c.waiting[c.next] = call
            return c.next
        }
        guard let id else { throw .invalidArgument("the CFG-split peer at \(endpoint) is gone") }
        let header = WireDenoiserRows(rows: rows.map { row in
            WireDenoiserRows.Row(channels: row.sample.channels, height: row.sample.height, width: row.sample.width, timestep: row.timestep,
                                 tokens: row.encoderHiddenStates.rows, hiddenWidth: row.encoderHiddenStates.cols,
                                 textEmbeds: row.textEmbeds, timeIds: row.timeIds)
        })
        let payload = WireFloats.pack(rows.flatMap { row in
            [row.sample.channelsFirst(), Array(UnsafeBufferPointer(start: row.encoderHiddenStates.data, count: row.encoderHiddenStates.count))]
        })
        do { try connection.send(.predictNoise(call: id, header), payload: payload) } catch {
            calls.withLock { _ = $0.waiting.removeValue(forKey: id) }
            throw .invalidArgument("cannot reach the CFG-split peer at \(endpoint): \(error)")
        }
        return { () throws(DiffusionError) -> [FeatureMap] in
            call.done.wait()
            return try call.result.get()
        }
    }

    private func answer(_ message: WireMessage, _ payload: Data) {
        let (id, outcome): (Int, Result<(channels: Int, payload: Data), DiffusionError>)
        switch message {
        case let .predictedNoise(call, channels): (id, outcome) = (call, .success((channels, payload)))
        case let .predictNoiseFailed(call, reason): (id, outcome) = (call, .failure(.invalidArgument("CFG-split peer: \(reason)")))
        default: return
        }
        guard let call = calls.withLock({ $0.waiting.removeValue(forKey: id) }) else { return }
        call.result = outcome.flatMap { channels, payload in
            do {
                let maps = try WireFloats.unpack(payload, counts: call.shapes.map { channels * $0.height * $0.width })
                return .success(zip(maps, call.shapes).map { values, shape in
                    values.withUnsafeBufferPointer { FeatureMap(channelsFirst: $0.baseAddress!, channels: channels, height: shape.height, width: shape.width) }
                })
            } catch {
                return .failure(.invalidArgument("CFG-split peer: \(error)"))
            }
        }
        call.done.signal()
    }

    private func failAll(_ reason: String) {
        let waiting = calls.withLock { c in
            c.closed = true
            defer { c.waiting = [:] }
            return Array(c.waiting.values)
        }
        for call in waiting {
            call.result = .failure(.invalidArgument(reason))
            call.done.signal()
        }
    }
}

/// The server side: runs the UNet rows a CFG-split leader sends, on this worker's pipeline.
enum GuidancePeerService {
    /// Answers `predictNoise` calls on `connection` until it closes, one at a time.
    static func serve(_ connection: Connection, pipeline: StableDiffusionPipeline, served: @escaping @Sendable (Int) -> Void) {
        connection.startReading(name: "tessera-guidance-rows", onMessage: { message, payload in
            guard case let .predictNoise(call, header) = message else { return }
            do {
                let rows = try unpack(header, payload)
                let predictions = try pipeline.predictNoise(rows)
                served(rows.count)
                let channels = predictions.first?.channels ?? pipeline.unet.outChannels
                try connection.send(.predictedNoise(call: call, channels: channels), payload: WireFloats.pack(predictions.map { $0.channelsFirst() }))
            } catch {
                try? connection.send(.predictNoiseFailed(call: call, "\(error)"))
            }
        }, onClose: { _ in })
    }

    static func unpack(_ header: WireDenoiserRows, _ payload: Data) throws -> [DenoiserInput] {
        let counts = header.rows.flatMap { [$0.channels * $0.height * $0.width, $0.tokens * $0.hiddenWidth] }
        let arrays = try WireFloats.unpack(payload, counts: counts)
        return header.rows.enumerated().map { i, row in
            let sample = arrays[2 * i].withUnsafeBufferPointer {
                FeatureMap(channelsFirst: $0.baseAddress!, channels: row.channels, height: row.height, width: row.width)
            }
            let hidden = Matrix(rows: row.tokens, cols: row.hiddenWidth)
            arrays[2 * i + 1].withUnsafeBufferPointer { hidden.data.update(from: $0.baseAddress!, count: $0.count) }
            return DenoiserInput(sample: sample, timestep: row.timestep, encoderHiddenStates: hidden, textEmbeds: row.textEmbeds, timeIds: row.timeIds)
        }
    }
}
