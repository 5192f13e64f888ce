import Diffusion
import Foundation
import Models
import Tensor
import WireProtocol

/// The client side of a CFG split: a connection from one diffusion worker to the peer that runs
/// its images' unconditional UNet rows (`predictNoise` out, `predictedNoise` back, every step).
///
/// ```swift
/// request.guidancePeer = try GuidancePeerConnection(endpoint: job.guidancePeer!)
/// ```
public final class GuidancePeerConnection: GuidancePeer, @unchecked Sendable {
    private let peer: PeerCalls

    public init(endpoint: Endpoint) throws(TransportError) {
        peer = try PeerCalls(endpoint: endpoint, name: "tessera-guidance-peer")
    }

    public var isClosed: Bool { peer.isClosed }

    public func close() { peer.close() }

    public func predictNoise(_ rows: [DenoiserInput]) throws(DiffusionError) -> @Sendable () throws(DiffusionError) -> [FeatureMap] {
        let shapes = rows.map { ($0.sample.height, $0.sample.width) }
        let wait: @Sendable () -> Result<(WireMessage, Data), PeerCallError>
        do {
            wait = try peer.call(payload: WireFloats.pack(rows.flatMap(\.wireFloats))) { .predictNoise(call: $0, WireDenoiserRows(rows: rows.map(\.wireRow))) }
        } catch {
            throw .invalidArgument("CFG-split peer: \(error)")
        }
        return { () throws(DiffusionError) -> [FeatureMap] in
            do {
                let (message, payload) = try wait().get()
                guard case let .predictedNoise(_, channels) = message else {
                    if case let .predictNoiseFailed(_, reason) = message { throw PeerCallError(reason) }
                    throw PeerCallError("unexpected answer \(message)")
                }
                let maps = try WireFloats.unpack(payload, counts: shapes.map { channels * $0.0 * $0.1 })
                return zip(maps, shapes).map { values, shape in
                    values.withUnsafeBufferPointer { FeatureMap(channelsFirst: $0.baseAddress!, channels: channels, height: shape.0, width: shape.1) }
                }
            } catch {
                throw .invalidArgument("CFG-split peer: \(error)")
            }
        }
    }
}

extension DenoiserInput {
    /// The row's sizes and added conditioning; its floats travel as ``wireFloats``.
    var wireRow: WireDenoiserRows.Row {
        WireDenoiserRows.Row(channels: sample.channels, height: sample.height, width: sample.width, timestep: timestep,
                             tokens: encoderHiddenStates.rows, hiddenWidth: encoderHiddenStates.cols, textEmbeds: textEmbeds, timeIds: timeIds)
    }

    /// The sample (channels first) and the text conditioning.
    var wireFloats: [[Float]] {
        [sample.channelsFirst(), Array(UnsafeBufferPointer(start: encoderHiddenStates.data, count: encoderHiddenStates.count))]
    }

    /// The row from its header and its two float arrays (no adapters).
    init(_ row: WireDenoiserRows.Row, sample: [Float], hidden: [Float]) {
        let map = sample.withUnsafeBufferPointer { FeatureMap(channelsFirst: $0.baseAddress!, channels: row.channels, height: row.height, width: row.width) }
        let states = Matrix(rows: row.tokens, cols: row.hiddenWidth)
        hidden.withUnsafeBufferPointer { states.data.update(from: $0.baseAddress!, count: $0.count) }
        self.init(sample: map, timestep: row.timestep, encoderHiddenStates: states, textEmbeds: row.textEmbeds, timeIds: row.timeIds)
    }

    /// Float counts of a row's ``wireFloats``.
    static func wireCounts(_ row: WireDenoiserRows.Row) -> [Int] { [row.channels * row.height * row.width, row.tokens * row.hiddenWidth] }
}

/// The server side: runs the UNet rows a CFG-split leader sends, on this worker's pipeline.
enum GuidancePeerService {
    /// Answers `predictNoise` calls on `connection`, one at a time; `served` counts the rows run.
    static func answer(_ call: Int, _ header: WireDenoiserRows, _ payload: Data, on connection: Connection,
                       pipeline: StableDiffusionPipeline, served: @Sendable (Int) -> Void) {
        do {
            let arrays = try WireFloats.unpack(payload, counts: header.rows.flatMap(DenoiserInput.wireCounts))
            let rows = header.rows.enumerated().map { i, row in DenoiserInput(row, sample: arrays[2 * i], hidden: arrays[2 * i + 1]) }
            let predictions = try pipeline.predictNoise(rows)
            served(rows.count)
            let channels = predictions.first?.channels ?? pipeline.unet.outChannels
            try connection.send(.predictedNoise(call: call, channels: channels), payload: WireFloats.pack(predictions.map { $0.channelsFirst() }))
        } catch {
            try? connection.send(.predictNoiseFailed(call: call, "\(error)"))
        }
    }
}
