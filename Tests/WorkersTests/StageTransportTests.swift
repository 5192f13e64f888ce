import Engine
import Foundation
import Models
import Tensor
import TestFixtures
import Testing
import WireProtocol
@testable import Workers

/// A pipeline stage process's side in this process: hidden states go to a `StageWorker` over a
/// Unix socket with shared memory or over TCP, and its logits come back equal to the whole model's.
@Suite(.serialized) struct StageTransportTests {
    static func stage(_ units: Range<Int>, on endpoint: Endpoint) throws -> (StageWorker, Task<Void, any Error>) {
        let worker = try StageWorker(configuration: StageWorker.Configuration(
            modelDirectory: Fixtures.directory("llama-gqa"), units: DecoderSlice(units: units), kvCacheMemoryBytes: 8 << 20,
            blockSize: 16, listen: endpoint, next: nil))
        return (worker, Task { try await worker.run() })
    }

    static func stageSegments() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter { $0.hasPrefix("tessera-stage-\(getpid())-") }
    }

    @Test(arguments: ["unix", "tcp"])
    func hiddenStatesCrossToTheNextStage(kind: String) async throws {
        let endpoint: Endpoint = kind == "unix" ? .unix(path: TransportTests.socketPath("stage")) : .tcp(host: "127.0.0.1", port: 0)
        let (worker, running) = try Self.stage(2 ..< 4, on: endpoint)
        let link = try StageLink(connecting: worker.endpoint, nextUnit: 2, blockSize: 16, sharedMemory: true, within: .seconds(10))
        #expect(link.kvBlocks == (8 << 20) / (2 * 1 * 16 * 64 * 4))  // keys and values of one layer: 2 KV heads × 32 dims
        let whole = try #require(try ModelLoader.load(directory: Fixtures.directory("llama-gqa")) as? DecoderLanguageModel)
        let first = try whole.slice(DecoderSlice(units: 0 ..< 2))
        let cache = PagedKVCache(config: first.config, blockCount: 4, blockSize: 16, layers: first.kvLayers)
        let reference = PagedKVCache(config: whole.config, blockCount: 4, blockSize: 16)
        // A prompt, then a decode step that reads the KV the stage kept from it.
        for (tokens, start) in [([1, 450, 1483, 310, 1444, 338], 0), ([29], 6)] {
            let batch = [BatchSequence(tokens: tokens, start: start, blockTable: [0, 1], wantsLogits: true)]
            guard case let .hidden(hidden) = try first.forward(batch: batch, hidden: nil, cache: cache) else { throw CancellationError() }
            let logits = try link.forward(batch, copies: [], hidden: hidden)
            let expected = try whole.forward(batch: batch, cache: reference)
            #expect(logits.count == 1 && zip(logits[0], expected[0]).allSatisfy { abs($0 - $1) <= 1e-5 })
        }
        // The receivers unlinked every segment.
        #expect(Self.stageSegments().isEmpty)
        link.close()
        try await running.value
    }

    /// A stage whose units do not start where the stage before ends refuses it (a layer would be skipped).
    @Test func aStageOfOtherUnitsRefusesTheHello() async throws {
        let (worker, running) = try Self.stage(3 ..< 4, on: .unix(path: TransportTests.socketPath("stage-gap")))
        #expect(throws: TransportError.self) { try StageLink(connecting: worker.endpoint, nextUnit: 2, blockSize: 16, sharedMemory: true, within: .seconds(10)) }
        // The refused stage before went away, and so does this one.
        try await running.value
    }
}
