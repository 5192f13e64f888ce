import CoreUtilities

/// An image's placeholder tokens inside a prompt: `length` tokens starting at `offset`, whose
/// content is identified by `imageID` (the image's one ``ImageID``); the engine's view of a
/// prompt's images, and what a prefill worker tells the front end about them.
public struct ImageSpan: Sendable, Hashable, Codable {
    public var imageID: ImageID
    public var offset: Int
    public var length: Int

    public init(imageID: ImageID, offset: Int, length: Int) {
        self.imageID = imageID
        self.offset = offset
        self.length = length
    }

    public var range: Range<Int> { offset ..< offset + length }
}
