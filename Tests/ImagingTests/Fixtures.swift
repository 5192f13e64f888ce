import Foundation

/// Files written by `scripts/fixtures/images.py`.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/images")

    static func good(_ name: String) -> URL { root.appendingPathComponent("good/\(name)") }
    static func bad(_ name: String) -> URL { root.appendingPathComponent("bad/\(name)") }
    static func processor(_ name: String) -> URL { root.appendingPathComponent("processors/\(name)") }

    static func loadReferences() throws -> References {
        let data = try Data(contentsOf: root.appendingPathComponent("references.json"))
        return try JSONDecoder().decode(References.self, from: data)
    }

    /// The references, or empty tables when they cannot be read (`FixtureTests` then fails).
    static let references: References = (try? loadReferences()) ?? References(decode: [:], bad: [:], processors: [:])

    static func levels(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent("pixels/\(file)")))
    }
}

struct References: Decodable {
    struct Decoded: Decodable {
        let width: Int
        let height: Int
        let sha256: String
        /// `[x, y, r, g, b]`.
        let samples: [[Int]]
        let no_exif_sha256: String
        let discard_alpha_sha256: String
    }

    struct Processed: Decodable {
        let shape: [Int]
        let normalized_sha256: String
        let rescaled_sha256: String
        let normalized_head: [Double]
        let levels_offset: Int
        let grid_thw: [Int]?
    }

    struct Processor: Decodable {
        let levels_file: String
        let images: [String: Processed]
    }

    let decode: [String: Decoded]
    let bad: [String: String]
    let processors: [String: Processor]
}
