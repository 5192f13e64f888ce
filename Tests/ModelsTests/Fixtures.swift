import Foundation
@testable import Models

/// The committed model fixtures and their transformers reference outputs.
enum Fixtures {
    static let names = ["llama-gqa", "qwen2-tied", "llama-sp"]

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/models")

    static func directory(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// Copies a fixture into a fresh temporary directory that a test may break.
    static func scratchCopy(_ name: String) throws -> URL {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("model-\(name)-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: directory(name), to: target)
        return target
    }
}

struct ReferencePrompt {
    let tokenIds: [Int]
    /// One row of vocabSize logits per prompt position.
    let logits: [[Float]]
    let greedyTokenIds: [Int]
    /// Per greedy step, the five most likely (id, logprob) pairs.
    let topLogprobs: [[(id: Int, logprob: Double)]]
}

enum ReferenceError: Error { case malformed(String) }

func loadReference(_ name: String) throws -> [ReferencePrompt] {
    let data = try Data(contentsOf: Fixtures.directory(name).appendingPathComponent("reference.json"))
    guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let prompts = json["prompts"] as? [[String: Any]] else { throw ReferenceError.malformed("no prompts in \(name)") }
    return try prompts.map { prompt in
        guard let ids = prompt["prompt_token_ids"] as? [Int],
              let logits = prompt["logits"] as? [[Double]],
              let greedy = prompt["greedy_token_ids"] as? [Int],
              let top = prompt["top_logprobs"] as? [[[String: Any]]] else { throw ReferenceError.malformed("prompt entry in \(name)") }
        let topPairs = try top.map { step in
            try step.map { entry -> (id: Int, logprob: Double) in
                guard let id = entry["id"] as? Int, let logprob = entry["logprob"] as? Double else { throw ReferenceError.malformed("top_logprobs in \(name)") }
                return (id, logprob)
            }
        }
        return ReferencePrompt(tokenIds: ids, logits: logits.map { $0.map(Float.init) }, greedyTokenIds: greedy, topLogprobs: topPairs)
    }
}

func maxAbsDifference(_ a: [[Float]], _ b: [[Float]]) -> Float {
    guard a.count == b.count, zip(a, b).allSatisfy({ $0.count == $1.count }) else { return .infinity }
    return zip(a, b).reduce(0) { worst, pair in zip(pair.0, pair.1).reduce(worst) { max($0, abs($1.0 - $1.1)) } }
}

func argmax(_ row: [Float]) -> Int { row.indices.max { row[$0] < row[$1] } ?? 0 }
