import CoreUtilities

/// An image as a serving stage sees it: always its identity and size, its pixels only where it is
/// encoded. A prefill stage that takes the image's features from an encode stage (EPD) gets the
/// reference alone; its encoder cache finds the features by ``id``.
///
/// ```swift
/// let local = ImageReference(image)                                    // pixels here
/// let remote = ImageReference(id: image.id, width: 640, height: 480)  // features come by id
/// ```
public struct ImageReference: Sendable {
    public let id: ImageID
    public let width: Int
    public let height: Int
    /// The pixels, where this stage may encode the image; nil where its features arrive encoded.
    public let image: RGBImage?

    public init(_ image: RGBImage) {
        id = image.id
        width = image.width
        height = image.height
        self.image = image
    }

    public init(id: ImageID, width: Int, height: Int) {
        self.id = id
        self.width = width
        self.height = height
        image = nil
    }
}
