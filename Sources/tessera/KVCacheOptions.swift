import ArgumentParser
import Cluster

/// The paged KV cache's memory and block size, shared by `serve`, `worker`, `pipeline-stage` and
/// `profile`; `Default` names the command's memory default (a front end and the profiler size the
/// cache of a whole engine, a worker or a pipeline stage one slice of a fleet).
///
/// ```swift
/// @OptionGroup var kvCache: KVCacheOptions<WorkerKVCacheDefault>
/// ```
struct KVCacheOptions<Default: KVCacheMemoryDefault>: ParsableArguments {
    @Option(name: .customLong("kv-cache-memory"), help: "Memory for the paged KV cache, in MiB.")
    var memoryMiB = Default.memoryMiB

    @Option(name: .customLong("block-size"), help: "Tokens per KV cache block.")
    var blockSize = KVBlock.defaultTokens

    func validate() throws {
        guard memoryMiB >= 1, blockSize >= 1 else { throw ValidationError("--kv-cache-memory and --block-size must be at least 1") }
    }

    var memoryBytes: Int { memoryMiB << 20 }

    /// The same options as a worker's command-line arguments.
    var arguments: [String] { ["--kv-cache-memory", String(memoryMiB), "--block-size", String(blockSize)] }
}

/// The `--kv-cache-memory` default of a command.
protocol KVCacheMemoryDefault: Sendable {
    static var memoryMiB: Int { get }
}

/// `serve` and `profile`: one engine's whole cache.
enum EngineKVCacheDefault: KVCacheMemoryDefault {
    static let memoryMiB = 512
}

/// `worker` and `pipeline-stage`: one worker's cache.
enum WorkerKVCacheDefault: KVCacheMemoryDefault {
    static let memoryMiB = 256
}
