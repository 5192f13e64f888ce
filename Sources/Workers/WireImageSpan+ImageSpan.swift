import Engine
import WireProtocol

extension WireImageSpan {
    init(_ span: ImageSpan) {
        self.init(imageID: span.imageID, offset: span.offset, length: span.length)
    }

    var value: ImageSpan { ImageSpan(imageID: imageID, offset: offset, length: length) }
}
