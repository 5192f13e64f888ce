import ArgumentParser
import DiffusionServing
import Foundation

/// The LoRAs and ControlNets a diffusion model serves by name (``AdapterRegistry``), shared by
/// `serve --image-model` and `worker --role image|controlnet`; `serve --topology` hands them to its
/// image pool as the same worker arguments.
struct AdapterOptions: ParsableArguments {
    @Option(name: .customLong("lora"), help: "A LoRA requests may name, NAME=PATH to a safetensors file (diffusers/PEFT or kohya; repeatable).")
    var loras: [String] = []

    @Option(name: .customLong("controlnet"), help: "A ControlNet requests may name, NAME=DIR of a diffusers ControlNet folder (repeatable).")
    var controlNets: [String] = []

    @Option(name: .customLong("adapter-dir"),
            help: "A folder scanned at start: NAME.safetensors files are LoRAs, NAME/ ControlNet folders ControlNets (repeatable).")
    var directories: [String] = []

    @Option(name: .customLong("adapter-cache"), help: "MiB of loaded LoRAs and ControlNets kept in memory (see --adapter-cache-eviction).")
    var cacheMiB = 1024

    @Option(name: .customLong("adapter-cache-eviction"),
            help: "Which loaded LoRA or ControlNet leaves the cache (or a controlnet worker's resident set) first: lru (least recently used) or lfu (least frequently used).")
    var eviction = AdapterCache.Eviction.lru

    var isEmpty: Bool { loras.isEmpty && controlNets.isEmpty && directories.isEmpty }

    func validate() throws {
        _ = try Self.namedPaths(loras, option: "--lora")
        _ = try Self.namedPaths(controlNets, option: "--controlnet")
        guard cacheMiB >= 0 else { throw ValidationError("--adapter-cache must not be negative") }
    }

    /// The registry of these add-ons (headers read, nothing loaded yet).
    func registry() throws -> AdapterRegistry {
        try AdapterRegistry(loras: try Self.namedPaths(loras, option: "--lora"), controlNets: try Self.namedPaths(controlNets, option: "--controlnet"),
                            directories: directories, cacheBytes: cacheMiB << 20, eviction: eviction)
    }

    /// The same options as a worker's command-line arguments.
    var arguments: [String] {
        loras.flatMap { ["--lora", $0] } + controlNets.flatMap { ["--controlnet", $0] } + directories.flatMap { ["--adapter-dir", $0] }
            + ["--adapter-cache", String(cacheMiB), "--adapter-cache-eviction", eviction.rawValue]
    }

    /// `NAME=PATH` arguments by name; a name given twice is an error.
    static func namedPaths(_ arguments: [String], option: String) throws -> [String: String] {
        var table: [String: String] = [:]
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex, argument.index(after: equals) != argument.endIndex else {
                throw ValidationError("\(option) takes NAME=PATH, got '\(argument)'")
            }
            let name = String(argument[..<equals])
            guard table[name] == nil else { throw ValidationError("\(option): the name '\(name)' is given twice") }
            table[name] = String(argument[argument.index(after: equals)...])
        }
        return table
    }
}

extension AdapterCache.Eviction: ExpressibleByArgument {}
