#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CoreUtilities
import Engine
import Foundation
import Models
import ServingAPI
import Synchronization
import Tensor
import WireProtocol

/// The connection from one pipeline stage to the next, as a ``PipelineLink``: each step's hidden
/// states go out (through a shared-memory segment between Unix-socket endpoints, as the frame's
/// payload over TCP, like KV transfers) and the logits come back, relayed by every later stage.
///
/// ```swift
/// let link = try StageLink(connecting: next, nextUnit: 3, blockSize: 16, sharedMemory: true, within: .seconds(60))
/// let engine = try LLMEngine(directory: model, firstStage: PipelineFirstStage(units: units, next: link))
/// ```
final class StageLink: PipelineLink {
    let kvBlocks: Int
    private let connection: Connection
    private let sharedMemory: Bool
    /// Held for each round trip: a step's, or a liveness probe's.
    private let exchange = Mutex(())
    /// Called once when the next stage is gone or failed: the pipeline cannot serve any more.
    let onLost = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// Connects to the next stage (retrying while it starts, up to `within`), checks that it runs
    /// the units from `nextUnit` on, and asks how many KV blocks the rest of the pipeline holds.
    init(connecting endpoint: Endpoint, nextUnit: Int, blockSize: Int, sharedMemory: Bool, within timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        var connection: Connection?
        while connection == nil {
            do { connection = try Connection.connect(to: endpoint) } catch {
                guard ContinuousClock.now < deadline else { throw error }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        self.connection = connection!
        self.sharedMemory = sharedMemory && endpoint.isLocal
        do {
            try self.connection.send(.stageHello(blockSize: blockSize, nextUnit: nextUnit))
            let reply = try self.connection.receive().0
            guard case let .stageReady(blocks) = reply else {
                throw TransportError.malformedMessage("the next pipeline stage at \(endpoint) answered its hello with \(reply)")
            }
            kvBlocks = blocks
        } catch {
            self.connection.close()
            throw error
        }
    }

    func forward(_ batch: [BatchSequence], copies: [BlockCopy], hidden: Matrix) throws -> [[Float]] {
        do {
            let (tensor, payload) = try StageTensors.pack(hidden, sharedMemory: sharedMemory)
            let step = StageStep(sequences: batch.map(StageStep.Sequence.init), copies: copies, hidden: tensor)
            let (reply, data) = try exchange.withLock { _ in
                try connection.send(.stageForward(step), payload: payload)
                return try connection.receive()
            }
            switch reply {
            case let .stageOutput(tensor):
                let logits = try StageTensors.unpack(tensor, data)
                return (0 ..< logits.rows).map(logits.rowArray)
            case let .stageFailed(reason): throw TransportError.malformedMessage("a later pipeline stage failed: \(reason)")
            default: throw TransportError.malformedMessage("the next pipeline stage answered \(reply)")
            }
        } catch {
            lost("\(error)")
            throw error
        }
    }

    /// Pings the next stage every `interval` while no step holds the link, so a stage that died
    /// between requests ends the pipeline at once rather than at its next request.
    func watch(every interval: Duration) {
        Thread.detachNewThread { [self] in
            while !connection.isClosed {
                Thread.sleep(forTimeInterval: interval.seconds)
                let failure = exchange.withLockIfAvailable { _ -> String? in
                    do {
                        try connection.send(.stagePing)
                        let (reply, _) = try connection.receive()
                        if case .stagePing = reply { return nil }
                        return "the next pipeline stage answered a ping with \(reply)"
                    } catch {
                        return "\(error)"
                    }
                }
                if let failure, let failure { return lost(failure) }
            }
        }
    }

    private func lost(_ reason: String) {
        let report = onLost.withLock { report in
            defer { report = nil }
            return report
        }
        report?(reason)
    }

    func close() { connection.close() }
}

/// Hidden states and logits between stages, in a shared-memory segment or a frame's payload.
enum StageTensors {
    private static let counter = Atomic<Int>(0)

    static func pack(_ m: Matrix, sharedMemory: Bool) throws -> (StageTensor, Data) {
        var tensor = StageTensor(rows: m.rows, cols: m.cols, sharedMemoryName: nil)
        let fill = { (base: UnsafeMutableRawPointer) in
            base.copyMemory(from: m.data, byteCount: tensor.byteCount)
            return true
        }
        guard sharedMemory, tensor.byteCount > 0 else {
            var payload = Data(count: tensor.byteCount)
            if tensor.byteCount > 0 { _ = payload.withUnsafeMutableBytes { fill($0.baseAddress!) } }
            return (tensor, payload)
        }
        // The receiver maps the segment and unlinks its name.
        let name = "/tessera-stage-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue)"
        _ = try SharedMemory.create(name: name, byteCount: tensor.byteCount, fill: fill)
        tensor.sharedMemoryName = name
        return (tensor, Data())
    }

    static func unpack(_ tensor: StageTensor, _ payload: Data) throws -> Matrix {
        guard tensor.rows >= 0, tensor.cols >= 0 else { throw TransportError.malformedMessage("a \(tensor.rows) × \(tensor.cols) stage tensor") }
        let m = Matrix(rows: tensor.rows, cols: tensor.cols)
        guard tensor.byteCount > 0 else { return m }
        if let name = tensor.sharedMemoryName {
            let base = try SharedMemory.map(name: name, byteCount: tensor.byteCount)
            SharedMemory.unlink(name: name)
            UnsafeMutableRawPointer(m.data).copyMemory(from: base, byteCount: tensor.byteCount)
            munmap(UnsafeMutableRawPointer(mutating: base), tensor.byteCount)
        } else {
            guard payload.count == tensor.byteCount else {
                throw TransportError.malformedMessage("stage tensor payload of \(payload.count) bytes, header says \(tensor.byteCount)")
            }
            payload.withUnsafeBytes { UnsafeMutableRawPointer(m.data).copyMemory(from: $0.baseAddress!, byteCount: tensor.byteCount) }
        }
        return m
    }
}

extension StageStep.Sequence {
    init(_ s: BatchSequence) {
        self.init(tokens: s.tokens, start: s.start, blockTable: s.blockTable, wantsLogits: s.wantsLogits, allLogits: s.allLogits,
                  mropeAxes: s.mrope?.axes, mropeDelta: s.mrope?.delta)
    }

    /// The sequence as a later stage runs it: no images (their features entered at the embedding).
    func value() throws(TransportError) -> BatchSequence {
        var s = BatchSequence(tokens: tokens, start: start, blockTable: blockTable, wantsLogits: wantsLogits)
        s.allLogits = allLogits
        if let mropeAxes {
            guard let mropeDelta, mropeAxes.count == 3, mropeAxes.allSatisfy({ $0.count == mropeAxes[0].count }) else {
                throw .malformedMessage("M-RoPE positions need three equal-length axes and a delta")
            }
            s.mrope = MRoPEPositions(axes: mropeAxes, delta: mropeDelta)
        }
        return s
    }
}
