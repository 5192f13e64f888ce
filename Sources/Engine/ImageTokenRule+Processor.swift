import Cluster
import Imaging

extension ImageTokenRule {
    /// The rule a model's image processor follows: Qwen2-VL's resize rule with the processor's own
    /// bounds, or, for a resize-and-crop tower, the fixed count `fixedTokens` gives.
    ///
    /// ```swift
    /// let rule = ImageTokenRule(processor: processor) { 576 }
    /// rule.tokens(width: 640, height: 480)   // 576
    /// ```
    public init<E: Error>(processor: any ImageProcessor, fixedTokens: () throws(E) -> Int) throws(E) {
        if let qwen = processor as? Qwen2VLImageProcessor {
            self = .qwen2VL(patch: qwen.patchSize, merge: qwen.mergeSize, minPixels: qwen.minPixels, maxPixels: qwen.maxPixels)
        } else {
            self = .fixed(tokens: try fixedTokens())
        }
    }
}
