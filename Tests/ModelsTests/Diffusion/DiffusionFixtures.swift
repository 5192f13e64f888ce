import Foundation
import Tensor
import Testing
@testable import Models

/// The committed diffusion pipelines (`fixtures/diffusion`) and their per-call diffusers references.
enum DiffusionFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/diffusion")

    static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// A reference file of `references/`.
    static func reference(_ name: String) throws -> Reference { try Reference(root.appendingPathComponent("references/\(name).safetensors")) }

    /// Copies a component folder into a fresh temporary directory a test may break.
    static func scratchCopy(_ path: String) throws -> URL {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("diffusion-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: root.appendingPathComponent(path), to: target)
        return target
    }

    /// Rewrites keys of a scratch folder's config.json.
    static func editConfig(_ folder: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = folder.appendingPathComponent("config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }
}

struct Reference {
    let file: SafetensorsFile

    init(_ url: URL) throws { file = try SafetensorsFile(url: url) }

    func shape(_ name: String) throws -> [Int] { try file.info(name).shape }
    func values(_ name: String) throws -> [Float] { try file.floats(name) }

    /// Row `index` of a [B, C, H, W] tensor as a feature map.
    func map(_ name: String, row index: Int = 0) throws -> FeatureMap {
        let shape = try shape(name)
        let (c, h, w) = (shape[1], shape[2], shape[3])
        let values = try values(name)
        return values.withUnsafeBufferPointer { FeatureMap(channelsFirst: $0.baseAddress! + index * c * h * w, channels: c, height: h, width: w) }
    }

    /// Row `index` of a [B, T, D] tensor as a T × D matrix.
    func matrix(_ name: String, row index: Int) throws -> Matrix {
        let shape = try shape(name)
        let (t, d) = (shape[1], shape[2])
        return Matrix(rows: t, cols: d, values: Array(try values(name)[index * t * d ..< (index + 1) * t * d]))
    }

    /// Row `index` of a [B, N] tensor.
    func vector(_ name: String, row index: Int) throws -> [Float] {
        let n = try shape(name)[1]
        return Array(try values(name)[index * n ..< (index + 1) * n])
    }

    /// The denoiser rows of a UNet or ControlNet reference (batch of 2).
    func denoiserRows() throws -> [DenoiserInput] {
        let timesteps = try values("timestep")
        let hasAdded = file.tensors["text_embeds"] != nil
        return try (0 ..< timesteps.count).map { i in
            DenoiserInput(sample: try map("sample", row: i), timestep: timesteps[i], encoderHiddenStates: try matrix("encoder_hidden_states", row: i),
                          textEmbeds: hasAdded ? try vector("text_embeds", row: i) : nil,
                          timeIds: hasAdded ? try vector("time_ids", row: i) : nil)
        }
    }
}

/// Largest |a − b| between a feature map and row `index` of a [B, C, H, W] reference.
func maxDifference(_ map: FeatureMap, _ reference: Reference, _ name: String, row index: Int = 0) throws -> Float {
    let expected = try reference.map(name, row: index)
    guard expected.channels == map.channels, expected.height == map.height, expected.width == map.width else { return .infinity }
    return zip(map.pixels.toArray(), expected.pixels.toArray()).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

func maxAbs(_ map: FeatureMap) -> Float { map.pixels.toArray().reduce(0) { max($0, abs($1)) } }
