import Engine
import Foundation
import ServingAPI
import TestFixtures
import Testing

extension Fixtures {
    static func engine(_ name: String, blockSize: Int = 16) throws -> LLMEngine {
        var config = EngineConfig()
        config.blockSize = blockSize
        config.kvCacheMemoryBytes = 16 << 20
        return try LLMEngine(directory: directory(name), config: config)
    }

    /// Generated token ids and per-token logprobs of a finished stream.
    static func collect(_ stream: AsyncThrowingStream<InferenceEvent, any Error>) async throws -> (ids: [Int], logprobs: [Float], info: FinishInfo?) {
        var ids: [Int] = [], logprobs: [Float] = [], info: FinishInfo?
        for try await event in stream {
            switch event {
            case let .delta(d):
                ids += d.tokenIds
                logprobs += d.logprobs.map(\.token.logprob)
            case let .finished(f): info = f
            }
        }
        return (ids, logprobs, info)
    }

    /// A copy, in the flat layout, of the KV `engine` parked under `handle` for the prompt's first
    /// `positions` tokens; the engine's own copy is released unless `release` is false.
    static func parkedKV(_ handle: Int, positions: Int, of engine: LLMEngine, release: Bool = true) -> KVBuffer {
        let bytes = engine.kvLayout.byteCount(positions: positions)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        #expect(engine.copyParkedKV(handle, to: memory))
        if release { engine.releaseParkedKV(handle) }
        return KVBuffer(layout: engine.kvLayout, positions: 0 ..< positions, base: memory, byteCount: bytes) { memory.deallocate() }
    }

    /// Waits (bounded) until `condition` holds.
    static func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}
