import Foundation

/// Writes float32 tensors in the safetensors format (the reader is `SafetensorsFile`).
///
/// ```swift
/// let bytes = SafetensorsWriter.encode([("latents", [1, 4, 8, 8], latents)])
/// ```
public enum SafetensorsWriter {
    /// The file's bytes: an 8-byte little-endian header length, the JSON header (space-padded to
    /// a multiple of 8) and the tensors' data in the given order.
    public static func encode(_ tensors: [(name: String, shape: [Int], values: [Float])]) -> [UInt8] {
        var offset = 0
        var entries: [String] = []
        for tensor in tensors {
            precondition(tensor.shape.reduce(1, *) == tensor.values.count, "\(tensor.name): shape and value count differ")
            let end = offset + 4 * tensor.values.count
            let name = String(decoding: try! JSONSerialization.data(withJSONObject: tensor.name, options: .fragmentsAllowed), as: UTF8.self)
            entries.append("\(name):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header
        for tensor in tensors {
            tensor.values.withUnsafeBufferPointer { values in
                for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
            }
        }
        return bytes
    }
}
