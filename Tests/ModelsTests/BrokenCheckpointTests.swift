import Foundation
import Testing
import Tensor
@testable import Models

/// Damaged copies of the fixtures must fail with a typed error naming the file and tensor.
struct BrokenCheckpointTests {
    func loadError(_ directory: URL) -> ModelLoadingError? {
        do {
            _ = try ModelLoader.load(directory: directory)
            return nil
        } catch let error as ModelLoadingError {
            return error
        } catch {
            Issue.record("untyped error \(error)")
            return nil
        }
    }

    func editJSON(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }

    /// Rewrites the header of a safetensors file in place, keeping its data section.
    func editHeader(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let bytes = try Data(contentsOf: url)
        let length = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8 ..< 8 + length)) as? [String: Any] ?? [:]
        edit(&header)
        let newHeader = try JSONSerialization.data(withJSONObject: header)
        var out = withUnsafeBytes(of: UInt64(newHeader.count).littleEndian) { Data($0) }
        out.append(newHeader)
        out.append(bytes.subdata(in: 8 + length ..< bytes.count))
        try out.write(to: url)
    }

    @Test func missingConfig() throws {
        let dir = try Fixtures.scratchCopy("llama-gqa")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        #expect(loadError(dir) == .missingConfig(path: dir.appendingPathComponent("config.json").path))
    }

    @Test func malformedConfig() throws {
        let dir = try Fixtures.scratchCopy("llama-gqa")
        try Data("{\"architectures\": [\"LlamaForCausalLM\"], ".utf8).write(to: dir.appendingPathComponent("config.json"))
        guard case .malformedConfig(let path, _) = loadError(dir) else { Issue.record("expected malformedConfig"); return }
        #expect(path.hasSuffix("config.json"))
        let valid = try Fixtures.scratchCopy("llama-gqa")
        try editJSON(valid.appendingPathComponent("config.json")) { $0["hidden_size"] = "wide" }
        guard case .malformedConfig(_, let detail) = loadError(valid) else { Issue.record("expected malformedConfig"); return }
        #expect(detail.contains("hidden_size"))
    }

    @Test func unknownArchitecture() throws {
        let dir = try Fixtures.scratchCopy("qwen2-tied")
        try editJSON(dir.appendingPathComponent("config.json")) { $0["architectures"] = ["FalconForCausalLM"] }
        let error = loadError(dir)
        #expect(error == .unsupportedArchitecture(name: "FalconForCausalLM", path: dir.appendingPathComponent("config.json").path))
        #expect(error?.description.contains("FalconForCausalLM") == true)
    }

    @Test func configShapeDisagreesWithWeights() throws {
        let dir = try Fixtures.scratchCopy("qwen2-tied")
        let config = try LanguageModelConfig(contentsOf: dir.appendingPathComponent("config.json"))
        try editJSON(dir.appendingPathComponent("config.json")) { $0["intermediate_size"] = config.intermediateSize + 1 }
        let error = loadError(dir)
        #expect(error == .shapeMismatch(tensor: "model.layers.0.mlp.gate_proj.weight", path: dir.appendingPathComponent("model.safetensors").path,
                                        expected: [config.intermediateSize + 1, config.hiddenSize], actual: [config.intermediateSize, config.hiddenSize]))
        #expect(error?.description.contains("model.layers.0.mlp.gate_proj.weight") == true)
    }

    @Test func tensorWithWrongShapeInFile() throws {
        let dir = try Fixtures.scratchCopy("llama-gqa")
        let file = dir.appendingPathComponent("model.safetensors")
        let name = "model.layers.1.mlp.up_proj.weight"
        var original: [Int] = []
        try editHeader(file) { header in
            guard var entry = header[name] as? [String: Any], let shape = entry["shape"] as? [Int] else { return }
            original = shape
            entry["shape"] = [shape[1], shape[0]]
            header[name] = entry
        }
        #expect(loadError(dir) == .shapeMismatch(tensor: name, path: file.path, expected: original, actual: original.reversed()))
    }

    @Test func tensorMissingFromSingleFile() throws {
        let dir = try Fixtures.scratchCopy("llama-gqa")
        let file = dir.appendingPathComponent("model.safetensors")
        try editHeader(file) { $0["model.norm.weight"] = nil }
        #expect(loadError(dir) == .missingTensor(name: "model.norm.weight", path: file.path))
    }

    @Test func unsupportedTensorDType() throws {
        let dir = try Fixtures.scratchCopy("llama-gqa")
        let file = dir.appendingPathComponent("model.safetensors")
        let name = "model.layers.0.input_layernorm.weight"
        try editHeader(file) { header in
            guard var entry = header[name] as? [String: Any] else { return }
            entry["dtype"] = "I32"  // same width as F32, so offsets stay consistent
            header[name] = entry
        }
        #expect(loadError(dir) == .unsupportedDType(tensor: name, path: file.path, dtype: "I32"))
    }

    @Test func truncatedWeights() throws {
        let dir = try Fixtures.scratchCopy("llama-gqa")
        let file = dir.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: file)
        try bytes.prefix(bytes.count / 2).write(to: file)
        guard case .invalidWeightsFile(.truncated(let path, let detail)) = loadError(dir) else { Issue.record("expected truncated"); return }
        #expect(path == file.path && detail.contains("tensor '"))
        try bytes.prefix(5).write(to: file)
        guard case .invalidWeightsFile(.truncated) = loadError(dir) else { Issue.record("expected truncated header"); return }
    }

    @Test func deletedShard() throws {
        let dir = try Fixtures.scratchCopy("llama-sp")
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("model.safetensors.index.json"))) as? [String: Any]
        let map = index?["weight_map"] as? [String: String] ?? [:]
        guard let shard = map["model.norm.weight"] else { Issue.record("fixture is not sharded"); return }
        try FileManager.default.removeItem(at: dir.appendingPathComponent(shard))
        guard case .missingShard(let path, let tensor) = loadError(dir) else { Issue.record("expected missingShard"); return }
        #expect(path == dir.appendingPathComponent(shard).path && map[tensor] == shard)
    }

    @Test func tensorMissingFromIndex() throws {
        let dir = try Fixtures.scratchCopy("llama-sp")
        try editJSON(dir.appendingPathComponent("model.safetensors.index.json")) { json in
            var map = json["weight_map"] as? [String: String] ?? [:]
            map["lm_head.weight"] = nil
            json["weight_map"] = map
        }
        #expect(loadError(dir) == .missingTensor(name: "lm_head.weight", path: dir.path))
    }

    @Test func noWeightsAtAll() throws {
        let dir = try Fixtures.scratchCopy("llama-gqa")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        #expect(loadError(dir) == .missingWeights(directory: dir.path, fileStem: "model"))
    }
}
