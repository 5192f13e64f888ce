import Foundation

/// Reads an API answer recorded from a Kubernetes 1.20 API server.
func recorded(_ name: String) throws -> Data {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Recorded/\(name)")
    return try Data(contentsOf: url)
}
