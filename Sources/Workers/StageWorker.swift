import CoreUtilities
import Engine
import Foundation
import Models
import Synchronization
import Tensor
import WireProtocol

/// A later stage of a layer-split model in a process of its own (`tessera pipeline-stage`): it
/// loads its units of the model, connects to the next stage if there is one, then serves the stage
/// before it, one step at a time: hidden states in, its layers over them into its own KV (under the
/// first stage's block tables), hidden states on, logits back.
///
/// It serves one upstream connection and exits when that closes, so a pipeline's processes go
/// down together and its front end relaunches the whole pipeline.
///
/// ```swift
/// try await StageWorker(configuration: configuration).run()
/// ```
public final class StageWorker: Sendable {
    public struct Configuration: Sendable {
        public var modelDirectory: URL
        public var units: DecoderSlice
        public var kvCacheMemoryBytes: Int
        public var blockSize: Int
        public var quantization: DType?
        /// Where the stage before this one connects.
        public var listen: Endpoint
        /// The next stage; nil for the last (it holds the LM head).
        public var next: Endpoint?
        /// Hidden states through shared memory between Unix-socket endpoints.
        public var sharedMemory = true
        /// How long to wait for the next stage, and for the stage before to connect.
        public var startupTimeout: Duration = .seconds(180)

        public init(modelDirectory: URL, units: DecoderSlice, kvCacheMemoryBytes: Int, blockSize: Int, listen: Endpoint, next: Endpoint?) {
            self.modelDirectory = modelDirectory
            self.units = units
            self.kvCacheMemoryBytes = kvCacheMemoryBytes
            self.blockSize = blockSize
            self.listen = listen
            self.next = next
        }
    }

    private let configuration: Configuration
    private let listener: Listener
    private let stage: PipelineStage
    private let link: StageLink?

    /// Listens first, so the stage before can connect while this one loads and reaches the next.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        listener = try Listener(endpoint: configuration.listen)
        link = try configuration.next.map {
            try StageLink(connecting: $0, nextUnit: configuration.units.units.upperBound, blockSize: configuration.blockSize,
                          sharedMemory: configuration.sharedMemory, within: configuration.startupTimeout)
        }
        stage = try PipelineStage(directory: configuration.modelDirectory, units: configuration.units,
                                  kvCacheMemoryBytes: configuration.kvCacheMemoryBytes, blockSize: configuration.blockSize,
                                  quantization: configuration.quantization, next: link)
    }

    /// Where the stage before connects (with the real port when port 0 was asked for).
    public var endpoint: Endpoint { listener.endpoint }

    /// Serves the first connection from the stage before until it closes.
    public func run() async throws {
        let (upstream, connected) = AsyncStream<Connection>.makeStream()
        listener.start(name: "tessera-stage-listener") { connection in connected.yield(connection) }
        let timeout = Task {
            try await Task.sleep(for: configuration.startupTimeout)
            connected.finish()
        }
        var first: Connection?
        for await connection in upstream {
            first = connection
            break
        }
        timeout.cancel()
        listener.close()
        guard let connection = first else {
            throw StageWorkerError("no stage connected within \(configuration.startupTimeout)")
        }
        // A later stage lost ends this one too: the stage before sees its connection close.
        link?.onLost.withLock { $0 = { _ in connection.close() } }
        link?.watch(every: .milliseconds(200))
        try await onOwnThread { [self] in serve(connection) }
        link?.close()
    }

    /// Answers the upstream stage's hello and steps until it goes away. A failure is answered
    /// (and ends the pipeline: the stage before leaves, which closes this connection).
    private func serve(_ connection: Connection) {
        _ = ComputeThreads.makeCurrentThreadCompute()
        let sharedMemory = configuration.sharedMemory && configuration.listen.isLocal
        while let (message, payload) = try? connection.receive() {
            switch message {
            case .stagePing:
                try? connection.send(.stagePing)
            case let .stageHello(blockSize, nextUnit):
                guard blockSize == configuration.blockSize, nextUnit == configuration.units.units.lowerBound else {
                    try? connection.send(.stageFailed("the stage before ends at unit \(nextUnit) with blocks of \(blockSize) tokens; "
                        + "this stage runs units \(configuration.units) with blocks of \(configuration.blockSize)"))
                    continue
                }
                try? connection.send(.stageReady(kvBlocks: stage.kvBlocks))
            case let .stageForward(step):
                do {
                    let hidden = try StageTensors.unpack(step.hidden, payload)
                    let batch = try step.sequences.map { try $0.value() }
                    let logits = try stage.run(batch, copies: step.copies, hidden: hidden)
                    let matrix = Matrix(rows: logits.count, cols: logits.first?.count ?? 0)
                    for (i, row) in logits.enumerated() { matrix.row(i).update(from: row, count: row.count) }
                    let (tensor, data) = try StageTensors.pack(matrix, sharedMemory: sharedMemory)
                    try connection.send(.stageOutput(tensor), payload: data)
                } catch {
                    try? connection.send(.stageFailed("units \(configuration.units): \(error)"))
                }
            default:
                try? connection.send(.stageFailed("unexpected \(message)"))
            }
        }
    }
}

struct StageWorkerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
