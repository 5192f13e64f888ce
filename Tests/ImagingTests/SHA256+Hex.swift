import Crypto
import Foundation

extension SHA256 {
    /// The lowercase hex digest of `bytes`, as Python's `hashlib.sha256(...).hexdigest()` writes it.
    static func hex(_ bytes: [UInt8]) -> String {
        hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
