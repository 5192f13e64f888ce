import Foundation
import Imaging
@testable import Models
import Tensor

/// The vision fixtures written by scripts/fixtures/vlm_fixtures.py: `reference.json` names arrays
/// in `reference.f32` as {"offset", "shape"}.
struct VisionReference {
    let json: [String: Any]
    let blob: [Float]
    let directory: URL

    static let images = ["gradient.png", "noisy.jpg", "rgba.png", "gray.png", "tall.png"]
    static let imageRoot = Fixtures.root.deletingLastPathComponent().appendingPathComponent("images/good")

    init(_ name: String) throws {
        directory = Fixtures.directory(name)
        let data = try Data(contentsOf: directory.appendingPathComponent("reference.json"))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw ReferenceError.malformed("\(name)/reference.json") }
        self.json = json
        let bytes = try Data(contentsOf: directory.appendingPathComponent("reference.f32"))
        blob = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The array an {"offset", "shape"} entry names, as rows of its last dimension.
    func rows(_ entry: Any?) throws -> [[Float]] {
        guard let entry = entry as? [String: Any], let offset = entry["offset"] as? Int, let shape = entry["shape"] as? [Int],
              let width = shape.last else { throw ReferenceError.malformed("array entry in \(directory.lastPathComponent)") }
        let count = shape.reduce(1, *)
        guard offset + count <= blob.count else { throw ReferenceError.malformed("array beyond reference.f32") }
        return stride(from: offset, to: offset + count, by: width).map { Array(blob[$0 ..< $0 + width]) }
    }

    /// A test image, decoded and preprocessed by the fixture's own processor.
    func preprocessed(_ image: String) throws -> PreprocessedImage {
        let decoded = try ImageDecoder.decode(contentsOf: Self.imageRoot.appendingPathComponent(image))
        return try ImageProcessorLoader.load(directory: directory).preprocess(decoded)
    }
}

struct VisionPrompt {
    let text: String
    let images: [String]
    let imageTokenCounts: [Int]
    let tokenIds: [Int]
    let logits: [[Float]]
    let greedyTokenIds: [Int]
    let topLogprobs: [[(id: Int, logprob: Double)]]

    static func load(_ reference: VisionReference) throws -> [VisionPrompt] {
        guard let prompts = reference.json["prompts"] as? [[String: Any]] else { throw ReferenceError.malformed("no prompts") }
        return try prompts.map { p in
            guard let text = p["text"] as? String, let images = p["images"] as? [String], let counts = p["image_token_counts"] as? [Int],
                  let ids = p["prompt_token_ids"] as? [Int], let greedy = p["greedy_token_ids"] as? [Int],
                  let top = p["top_logprobs"] as? [[[String: Any]]] else { throw ReferenceError.malformed("prompt entry") }
            let pairs = try top.map { step in
                try step.map { entry -> (id: Int, logprob: Double) in
                    guard let id = entry["id"] as? Int, let logprob = entry["logprob"] as? Double else { throw ReferenceError.malformed("top_logprobs") }
                    return (id, logprob)
                }
            }
            return VisionPrompt(text: text, images: images, imageTokenCounts: counts, tokenIds: ids, logits: try reference.rows(p["logits"]),
                                greedyTokenIds: greedy, topLogprobs: pairs)
        }
    }
}

extension Matrix {
    var rowArrays: [[Float]] { (0 ..< rows).map { rowArray($0) } }
}

/// Largest |a − b| relative to max(1, |b|): features and logits reach magnitudes where float32
/// rounding alone exceeds a fixed absolute tolerance.
func maxScaledDifference(_ a: [[Float]], _ b: [[Float]]) -> Float {
    guard a.count == b.count, zip(a, b).allSatisfy({ $0.count == $1.count }) else { return .infinity }
    return zip(a, b).reduce(0) { worst, pair in zip(pair.0, pair.1).reduce(worst) { max($0, abs($1.0 - $1.1) / max(1, abs($1.1))) } }
}

/// log-softmax of `logits` at `id`, in double precision.
func logprob(_ logits: [Float], _ id: Int) -> Double {
    let maximum = logits.max() ?? 0
    let logSum = Double(maximum) + log(logits.reduce(0.0) { $0 + exp(Double($1 - maximum)) })
    return Double(logits[id]) - logSum
}
