import Engine
import WireProtocol

extension WireImageSpan {
    init(_ span: ImageSpan) {
        self.init(contentId: span.contentId, offset: span.offset, length: span.length)
    }

    var value: ImageSpan { ImageSpan(contentId: contentId, offset: offset, length: length) }
}
