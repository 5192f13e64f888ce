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

    /// A copy, in the flat layout, of the KV `engine` parked under `handle` for the prompt's first
    /// `positions` tokens; the engine's own copy is released unless `release` is false.
    static func parkedKV(_ handle: Int, positions: Int, of engine: LLMEngine, release: Bool = true) -> KVBuffer {
        let bytes = engine.kvLayout.byteCount(positions: positions)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        #expect(engine.copyParkedKV(handle, to: memory))
        if release { engine.releaseParkedKV(handle) }
        return KVBuffer(layout: engine.kvLayout, positions: 0 ..< positions, base: memory, byteCount: bytes) { memory.deallocate() }
    }

}
