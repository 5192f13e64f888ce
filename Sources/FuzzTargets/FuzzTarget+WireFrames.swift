import Foundation
import WireProtocol

extension FuzzTarget {
    /// The wire protocol's frame reader, fed the bytes as a peer's stream: frames are read until
    /// the stream ends or one is refused (too large, not a ``WireMessage``), without allocating
    /// for lengths the peer does not send, and every frame read encodes and reads back.
    public static let wireFrame = FuzzTarget(name: "wire-frame") { bytes in
        var stream = ByteStream(bytes)
        while let (message, payload) = try? WireFrame.read({ try stream.readAll($0) }) {
            var again: ByteStream
            do { again = ByteStream(Array(try WireFrame.encode(message, payloadCount: payload.count) + payload)) } catch {
                preconditionFailure("a message read does not encode: \(error)")
            }
            guard let (_, body) = try? WireFrame.read({ try again.readAll($0) }) else { preconditionFailure("an encoded \(message) does not read back") }
            precondition(body == payload, "the payload changed on the way back")
        }
    }
}

/// Bytes handed out in order, as a socket would.
struct ByteStream {
    private let bytes: [UInt8]
    private var position = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func readAll(_ buffer: UnsafeMutableRawBufferPointer) throws(TransportError) {
        guard bytes.count - position >= buffer.count else { throw .closed }
        buffer.copyBytes(from: bytes[position..<(position + buffer.count)])
        position += buffer.count
    }
}
