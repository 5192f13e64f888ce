import Foundation
import Imaging
import Testing
@testable import Models
import Tensor

/// A vision-language model's encoder and decoder loaded on their own: the encoder alone computes
/// exactly the full model's features and never reads (or needs) the language model's tensors.
struct VisionLanguagePartsTests {
    static let fixtures = VisionLanguageParityTests.fixtures

    /// Every test image's features, bit for bit as the full model's.
    private static func expectSameFeatures(_ encoder: VisionLanguageEncoder, as full: VisionLanguageModel, fixture: String) throws {
        let reference = try VisionReference(fixture)
        for image in VisionReference.images {
            let pixels = try reference.preprocessed(image)
            let expected = try full.encodeImage(pixels), actual = try encoder.encodeImage(pixels)
            #expect(actual.rows == expected.rows && actual.cols == expected.cols, "\(fixture) \(image)")
            #expect(actual.toArray().map(\.bitPattern) == expected.toArray().map(\.bitPattern), "\(fixture) \(image)")
            #expect(try encoder.format.imageTokenCount(for: pixels) == full.imageTokenCount(for: pixels))
        }
    }

    @Test(arguments: fixtures)
    func encoderAloneMatchesTheFullModel(fixture: String) throws {
        let directory = Fixtures.directory(fixture)
        let full = try ModelLoader.loadVisionLanguageModel(directory: directory)
        let encoder = try ModelLoader.loadVisionLanguageEncoder(directory: directory)
        try Self.expectSameFeatures(encoder, as: full, fixture: fixture)
        #expect(encoder.format.imageTokenId == full.imageTokenId && encoder.format.imagePlaceholder == full.imagePlaceholder)
    }

    /// The encoder and the decoder read disjoint sets of tensors that together make the checkpoint.
    @Test(arguments: fixtures)
    func encoderAndDecoderReadDisjointTensors(fixture: String) throws {
        let directory = Fixtures.directory(fixture)
        let encoderWeights = try WeightStore(directory: directory), decoderWeights = try WeightStore(directory: directory)
        _ = try ModelLoader.loadVisionLanguageEncoder(directory: directory, weights: encoderWeights)
        _ = try ModelLoader.loadVisionLanguageDecoder(directory: directory, weights: decoderWeights)
        let encoder = encoderWeights.readTensors, decoder = decoderWeights.readTensors
        #expect(!encoder.isEmpty && !decoder.isEmpty)
        #expect(encoder.isDisjoint(with: decoder), "\(encoder.intersection(decoder))")
        #expect(decoder.contains { $0.contains("embed_tokens") } && !encoder.contains { $0.contains("embed_tokens") || $0.contains("lm_head") })
        let all = Set(try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors")).tensors.keys)
        // A tied LM head may still be stored; the decoder then reads the embedding instead.
        #expect(all.subtracting(encoder).subtracting(decoder).allSatisfy { $0.hasSuffix("lm_head.weight") })
    }

    /// The checkpoint split into an encoder shard and a language-model shard, and the latter
    /// deleted: the encoder still loads (the same features), the full model cannot.
    @Test(arguments: fixtures)
    func encoderLoadsWithoutTheLanguageModelShard(fixture: String) throws {
        let source = Fixtures.directory(fixture)
        let weights = try WeightStore(directory: source)
        _ = try ModelLoader.loadVisionLanguageEncoder(directory: source, weights: weights)
        let split = try ShardedCopy(of: source, firstShard: weights.readTensors)
        defer { try? FileManager.default.removeItem(at: split.directory) }
        try FileManager.default.removeItem(at: split.directory.appendingPathComponent(ShardedCopy.shards[1]))

        let encoder = try ModelLoader.loadVisionLanguageEncoder(directory: split.directory)
        try Self.expectSameFeatures(encoder, as: try ModelLoader.loadVisionLanguageModel(directory: source), fixture: fixture)
        #expect(throws: ModelLoadingError.self) { _ = try ModelLoader.loadVisionLanguageModel(directory: split.directory) }
        #expect(throws: ModelLoadingError.self) { _ = try ModelLoader.loadVisionLanguageDecoder(directory: split.directory) }
        #expect(try ModelLoader.loadImagePromptFormat(directory: split.directory).imageTokenId == encoder.format.imageTokenId)
    }
}

/// A model folder rewritten as two safetensors shards with an index: `firstShard`'s tensors in the
/// first, the rest in the second. Config and processor files are copied alongside.
private struct ShardedCopy {
    static let shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    let directory: URL

    init(of source: URL, firstShard: Set<String>) throws {
        let manager = FileManager.default
        directory = manager.temporaryDirectory.appendingPathComponent("sharded-\(UUID().uuidString)")
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in try manager.contentsOfDirectory(atPath: source.path) where name.hasSuffix(".json") && name != "reference.json" {
            try manager.copyItem(at: source.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        let file = try SafetensorsFile(url: source.appendingPathComponent("model.safetensors"))
        let names = file.tensors.keys.sorted()
        var map: [String: String] = [:]
        for (index, shard) in Self.shards.enumerated() {
            let members = names.filter { firstShard.contains($0) == (index == 0) }
            try Self.write(members.compactMap { file.tensors[$0] }, from: file, to: directory.appendingPathComponent(shard))
            for name in members { map[name] = shard }
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": [String: Any](), "weight_map": map])
        try index.write(to: directory.appendingPathComponent("model.safetensors.index.json"))
    }

    /// The safetensors layout: an 8-byte little-endian header length, the JSON header, the data.
    private static func write(_ tensors: [SafetensorsTensorInfo], from file: SafetensorsFile, to url: URL) throws {
        var header: [String: Any] = [:]
        var data = Data()
        for info in tensors {
            header[info.name] = ["dtype": info.dtypeName, "shape": info.shape, "data_offsets": [data.count, data.count + info.byteRange.count]]
            data.append(Data(bytes: file.pointer(for: info), count: info.byteRange.count))
        }
        var json = try JSONSerialization.data(withJSONObject: header)
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var length = UInt64(json.count).littleEndian
        var bytes = Data(bytes: &length, count: 8)
        bytes.append(json)
        bytes.append(data)
        try bytes.write(to: url)
    }
}
