import Foundation

/// One frame of a ``Connection``: a 4-byte big-endian header length, an 8-byte big-endian payload
/// length, the header (the JSON-encoded ``WireMessage``), then the binary payload (KV bytes on the
/// TCP transfer path, pixels of images to encode).
///
/// ```swift
/// let bytes = try WireFrame.encode(.abort(request: 7)) + payload
/// let (message, body) = try WireFrame.read { buffer in … fill buffer from the socket … }
/// ```
public enum WireFrame {
    /// Largest JSON header accepted (a prompt's token ids travel in it).
    static let maxHeaderBytes = 64 << 20
    /// Largest binary payload accepted.
    static let maxPayloadBytes = 16 << 30
    /// Memory taken for a header or payload before its bytes arrive: a length prefix alone cannot
    /// make the reader allocate more than this plus what the peer actually sent.
    static let readChunkBytes = 1 << 20

    /// The length prefix and header of `message`, to be followed by a payload of `payloadCount` bytes.
    public static func encode(_ message: WireMessage, payloadCount: Int = 0) throws(TransportError) -> Data {
        let header: Data
        do { header = try JSONEncoder().encode(message) } catch { throw .malformedMessage("cannot encode \(message): \(error)") }
        var frame = Data(count: 12)
        frame.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(header.count).bigEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: UInt64(payloadCount).bigEndian, toByteOffset: 4, as: UInt64.self)
        }
        frame.append(header)
        return frame
    }

    /// Reads one frame through `readAll`, which fills the buffer it is given completely or throws
    /// (``TransportError/closed`` at the end of the stream). Throws `TransportError.frameTooLarge`
    /// for a length past the limits and `.malformedMessage` for a header that is not a ``WireMessage``.
    public static func read(_ readAll: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> (WireMessage, Data) {
        var prefix = [UInt8](repeating: 0, count: 12)
        try prefix.withUnsafeMutableBytes { try readAll($0) }
        let headerLength = prefix.withUnsafeBytes { Int(UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self))) }
        let payloadLength = prefix.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt64.self)) }
        guard headerLength <= maxHeaderBytes else { throw TransportError.frameTooLarge(headerLength) }
        guard payloadLength <= UInt64(maxPayloadBytes) else { throw TransportError.frameTooLarge(Int(clamping: payloadLength)) }
        let header = try readGrowing(headerLength, readAll)
        let payload = try readGrowing(Int(payloadLength), readAll)
        do {
            return (try JSONDecoder().decode(WireMessage.self, from: header), payload)
        } catch {
            throw TransportError.malformedMessage("\(error)")
        }
    }

    /// Reads `count` bytes into a buffer that grows (at least doubling) as they arrive.
    private static func readGrowing(_ count: Int, _ readAll: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> Data {
        var data = Data()
        while data.count < count {
            let start = data.count
            data.count += min(count - start, max(readChunkBytes, start))
            try data.withUnsafeMutableBytes { try readAll(UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
        }
        return data
    }
}
