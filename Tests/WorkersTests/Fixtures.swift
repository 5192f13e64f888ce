import Engine
import Foundation
import ServingAPI
import TestFixtures

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
