import Diffusion
import DiffusionServing
import Foundation
import Models
import ServingAPI
import Synchronization
import Tensor
import WireProtocol

/// The client side of a CFG split: a connection from one diffusion worker to the peer that runs
/// its images' unconditional UNet rows (`predictNoise` out, `predictedNoise` back, every step).
/// Each image talks through its own ``ImageGuidancePeer``, which numbers the image and names its
/// LoRAs.
///
/// ```swift
/// request.guidancePeer = try GuidancePeerConnection(endpoint: job.guidancePeer!).image(loras: job.loras ?? [])
/// ```
public final class GuidancePeerConnection: @unchecked Sendable {
    private let peer: PeerCalls
    private let images = Atomic<Int>(0)

    public init(endpoint: Endpoint) throws(TransportError) {
        peer = try PeerCalls(endpoint: endpoint, name: "tessera-guidance-peer")
    }

    public var isClosed: Bool { peer.isClosed }

    public func close() { peer.close() }

    /// The peer as one image's rows reach it: with `loras`, the image's LoRAs by registered name.
    public func image(loras: [LoRAUse]) -> ImageGuidancePeer {
        ImageGuidancePeer(connection: self, image: images.add(1, ordering: .relaxed).oldValue, loras: loras)
    }

    fileprivate func predictNoise(_ rows: [GuidanceRow], image: Int, loras: [LoRAUse]) throws(DiffusionError)
        -> @Sendable () throws(DiffusionError) -> [FeatureMap] {
        let shapes = rows.map { ($0.input.sample.height, $0.input.sample.width) }
        let wait: @Sendable () -> Result<(WireMessage, Data), PeerCallError>
        do {
            wait = try peer.call(payload: WireFloats.pack(rows.flatMap(\.wireFloats))) {
                .predictNoise(call: $0, WireDenoiserRows(rows: rows.map { $0.wireRow(image: image, loras: loras) }))
            }
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

/// One image's CFG-split peer: its rows go over the shared connection with the image's number
/// and LoRA names.
public final class ImageGuidancePeer: GuidancePeer {
    let connection: GuidancePeerConnection
    let image: Int
    let loras: [LoRAUse]

    init(connection: GuidancePeerConnection, image: Int, loras: [LoRAUse]) {
        self.connection = connection
        self.image = image
        self.loras = loras
    }

    public func predictNoise(_ rows: [GuidanceRow]) throws(DiffusionError) -> @Sendable () throws(DiffusionError) -> [FeatureMap] {
        try connection.predictNoise(rows, image: image, loras: loras)
    }

    /// Tells the peer the image ended; a closed connection already ended all of its images there.
    public func release() { connection.endGuidance(image: image) }
}

extension GuidancePeerConnection {
    fileprivate func endGuidance(image: Int) { try? peer.send(.endGuidance(image: image)) }
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

    /// The row from its header and its two float arrays.
    init(_ row: WireDenoiserRows.Row, sample: [Float], hidden: [Float], adapters: LowRankAdapters = LowRankAdapters()) {
        let map = sample.withUnsafeBufferPointer { FeatureMap(channelsFirst: $0.baseAddress!, channels: row.channels, height: row.height, width: row.width) }
        let states = Matrix(rows: row.tokens, cols: row.hiddenWidth)
        hidden.withUnsafeBufferPointer { states.data.update(from: $0.baseAddress!, count: $0.count) }
        self.init(sample: map, timestep: row.timestep, encoderHiddenStates: states, textEmbeds: row.textEmbeds, timeIds: row.timeIds,
                  adapters: adapters)
    }
}

extension GuidanceRow {
    /// The row's header: its image, its LoRAs named, how it takes them, its residuals' shapes.
    func wireRow(image: Int, loras: [LoRAUse]) -> WireDenoiserRows.Row {
        var row = input.wireRow
        row.image = image
        if !loras.isEmpty {
            row.loras = loras
            row.loraApplication = loraMode.map { $0 == .merged ? .merged : .unmerged }
        }
        row.residualShapes = residuals?.wireShapes
        row.isLast = isLast
        return row
    }

    /// The input's floats, then the residuals'.
    var wireFloats: [[Float]] { input.wireFloats + (residuals?.wireFloats ?? []) }
}

extension ControlResiduals {
    /// Shapes (height, width, channels) of the down residuals, then the mid one.
    var wireShapes: [[Int]] { (down + [mid]).map { [$0.height, $0.width, $0.channels] } }

    /// Their values in the order of ``wireShapes``.
    var wireFloats: [[Float]] { (down + [mid]).map { Array(UnsafeBufferPointer(start: $0.pixels.data, count: $0.pixels.count)) } }

    /// Residuals from their shapes and values as they travel.
    init(wireShapes shapes: [[Int]], floats: [[Float]]) throws(PeerCallError) {
        guard shapes.count >= 2, shapes.count == floats.count, shapes.allSatisfy({ $0.count == 3 }) else {
            throw PeerCallError("malformed ControlNet residual shapes \(shapes)")
        }
        let maps = zip(floats, shapes).map { values, shape in
            let map = FeatureMap(height: shape[0], width: shape[1], channels: shape[2])
            values.withUnsafeBufferPointer { map.pixels.data.update(from: $0.baseAddress!, count: $0.count) }
            return map
        }
        self.init(down: Array(maps.dropLast()), mid: maps.last!)
    }
}

/// The server side: runs the UNet rows a CFG-split leader sends on this worker's engine
/// (``DiffusionEngine/predictGuestNoise(_:)``), with their LoRAs from its registry and the residuals
/// they carry.
enum GuidancePeerService {
    /// Answers a `predictNoise` call from the leader on `link`; `served` counts the rows run.
    static func answer(_ call: Int, _ header: WireDenoiserRows, _ payload: Data, on connection: Connection, link: Int,
                       engine: DiffusionEngine, served: @Sendable (Int) -> Void) {
        do {
            let arrays = try WireFloats.unpack(payload, counts: header.rows.flatMap(\.floatCounts))
            var rows: [GuestRow] = []
            var next = 0
            for row in header.rows {
                let floats = Array(arrays[next ..< next + row.floatCounts.count])
                next += floats.count
                rows.append(GuestRow(image: GuestImage(link: link, image: row.image ?? -1),
                                     input: DenoiserInput(row, sample: floats[0], hidden: floats[1]),
                                     residuals: try row.residualShapes.map { shapes throws(PeerCallError) in
                                         try ControlResiduals(wireShapes: shapes, floats: Array(floats.dropFirst(2)))
                                     },
                                     loras: row.loras ?? [],
                                     loraMode: row.loraApplication.map { $0 == .merged ? .merged : .unmerged },
                                     isLast: row.isLast ?? false))
            }
            let predictions = try engine.predictGuestNoise(rows)
            served(rows.count)
            let channels = predictions.first?.channels ?? engine.pipeline.unet.outChannels
            try connection.send(.predictedNoise(call: call, channels: channels), payload: WireFloats.pack(predictions.map { $0.channelsFirst() }))
        } catch {
            try? connection.send(.predictNoiseFailed(call: call, "\(error)"))
        }
    }
}
