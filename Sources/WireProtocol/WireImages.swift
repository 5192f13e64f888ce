import Foundation
import Imaging

/// An image's size on the wire; its RGB pixels travel in the frame's payload.
public struct WireImageSize: Codable, Sendable, Hashable {
    public var width: Int
    public var height: Int
}

/// An image's placeholder tokens in a prompt (the engine's `ImageSpan`) on the wire.
public struct WireImageSpan: Codable, Sendable, Hashable {
    public var contentId: String
    public var offset: Int
    public var length: Int

    public init(contentId: String, offset: Int, length: Int) {
        self.contentId = contentId
        self.offset = offset
        self.length = length
    }
}

/// Images as sizes plus one payload of concatenated RGB pixels.
public enum WireImages {
    public static func pack(_ images: [RGBImage]) -> ([WireImageSize], Data) {
        var payload = Data(capacity: images.reduce(0) { $0 + $1.pixels.count })
        for image in images { payload.append(contentsOf: image.pixels) }
        return (images.map { WireImageSize(width: $0.width, height: $0.height) }, payload)
    }

    public static func unpack(_ sizes: [WireImageSize], _ payload: Data) throws -> [RGBImage] {
        let total = sizes.reduce(0) { $0 + $1.width * $1.height * 3 }
        guard sizes.allSatisfy({ $0.width > 0 && $0.height > 0 }), total == payload.count else {
            throw TransportError.malformedMessage("image payload of \(payload.count) bytes does not match the sizes \(sizes)")
        }
        var offset = payload.startIndex
        return try sizes.map { size in
            let count = size.width * size.height * 3
            defer { offset += count }
            return try RGBImage(width: size.width, height: size.height, pixels: [UInt8](payload[offset ..< offset + count]))
        }
    }
}
