import Foundation
import Testing

/// The committed references under `fixtures/diffusion/` (written by scripts/fixtures/diffusion_references.py).
enum Fixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let diffusion = repositoryRoot.appendingPathComponent("fixtures/diffusion")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: diffusion.appendingPathComponent(name))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// Largest |a − b| over two equally long arrays (∞ when the lengths differ).
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Largest |a − b| / max(1, |b|).
func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
}

extension Array where Element == Any {
    var floats: [Float] { map { Float(($0 as! NSNumber).doubleValue) } }
}
