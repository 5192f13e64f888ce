import CoreUtilities
import Foundation
import Imaging

/// An image on the wire: its one identity and its size. Its RGB pixels travel in the frame's
/// payload where the receiver encodes it, and not at all where it pulls the features by id.
public struct WireImage: Codable, Sendable, Hashable {
    public var id: ImageID
    public var width: Int
    public var height: Int

    public init(_ image: RGBImage) {
        id = image.id
        width = image.width
        height = image.height
    }
}

/// Images as ids and sizes plus one payload of concatenated RGB pixels.
public enum WireImages {
    /// Every image's id and size; the payload holds the pixels of the images `withPixels` accepts, in order.
    public static func pack(_ images: [RGBImage], withPixels: (RGBImage) -> Bool = { _ in true }) -> ([WireImage], Data) {
        let sent = images.filter(withPixels)
        var payload = Data(capacity: sent.reduce(0) { $0 + $1.pixels.count })
        for image in sent { payload.append(contentsOf: image.pixels) }
        return (images.map(WireImage.init), payload)
    }

    /// All images with their pixels from the payload, named by the ids they travelled with.
    public static func unpack(_ images: [WireImage], _ payload: Data) throws -> [RGBImage] {
        try references(images, payload, pixelsFor: images.map(\.id)).map { reference in
            guard let image = reference.image else { throw TransportError.malformedMessage("image \(reference.id) came without its pixels") }
            return image
        }
    }

    /// The images as the receiver sees them: pixels from the payload, in order, for the ids in
    /// `pixelsFor`; the others by id and size alone (their features arrive from an encode worker).
    public static func references(_ images: [WireImage], _ payload: Data, pixelsFor: [ImageID]) throws -> [ImageReference] {
        let local = Set(pixelsFor)
        let total = images.reduce(0) { $0 + (local.contains($1.id) ? $1.width * $1.height * 3 : 0) }
        guard images.allSatisfy({ $0.width > 0 && $0.height > 0 }), total == payload.count else {
            throw TransportError.malformedMessage("image payload of \(payload.count) bytes does not match the images \(images)")
        }
        var offset = payload.startIndex
        return try images.map { image in
            guard local.contains(image.id) else { return ImageReference(id: image.id, width: image.width, height: image.height) }
            let count = image.width * image.height * 3
            defer { offset += count }
            return ImageReference(try RGBImage(width: image.width, height: image.height, pixels: [UInt8](payload[offset ..< offset + count]), id: image.id))
        }
    }
}
