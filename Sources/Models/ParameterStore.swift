import Foundation
import Tensor

/// One named parameter in float32, owned and mutable in place (a LoRA merge writes into it).
public final class Parameter: @unchecked Sendable {
    public let name: String
    /// PyTorch's shape, e.g. [out, in] for a linear weight, [out, in, kh, kw] for a convolution.
    public let shape: [Int]
    /// shape.product floats, PyTorch's row-major layout.
    public let data: UnsafeMutablePointer<Float>

    init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        data = .allocate(capacity: max(1, values.count))
        values.withUnsafeBufferPointer { data.initialize(from: $0.baseAddress!, count: values.count) }
    }

    deinit { data.deallocate() }

    public var count: Int { shape.reduce(1, *) }

    /// Counts writes to the values (`assign`, `markModified`), so forms derived from them (a
    /// convolution's Winograd transform) know when to be remade.
    public private(set) var version = 0

    /// Records that `data` was written in place (a merged LoRA).
    public func markModified() { version += 1 }

    /// A copy of the values (keep one before merging, to restore exactly).
    public func values() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Overwrites the values (restoring a kept copy).
    public func assign(_ values: [Float]) {
        precondition(values.count == count, "parameter \(name) holds \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
        markModified()
    }

    /// The parameter as a rows × (rest) weight matrix view, sharing its memory.
    public var matrix: WeightMatrix {
        WeightMatrix(base: UnsafeRawPointer(data), dtype: .f32, rows: shape[0], cols: count / shape[0], owner: self)
    }
}

/// The weights of one diffusers component (a `unet/`, `vae/` or ControlNet folder) by their
/// diffusers names (`down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight`), widened
/// to float32 on load and held in memory the layers read on every call.
///
/// A LoRA is merged by writing into `parameter(path + ".weight")` in place
/// (W += scale·(alpha/r)·B·A); keep `values()` of each touched parameter first and `assign` them
/// back to restore exactly (subtracting is not exact). Merging and forward passes must not overlap.
///
/// ```swift
/// let w = unet.parameters.parameter("mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight")!
/// let pristine = w.values()
/// // ... add the LoRA delta to w.data ...
/// w.assign(pristine)
/// ```
public final class ParameterStore: @unchecked Sendable {
    /// The checkpoint, mapped while the model is built and released after (the float32 copies are
    /// all a forward pass reads, so the mapping would only add its pages to the resident set).
    private var source: WeightStore?
    private var parameters: [String: Parameter] = [:]

    init(source: WeightStore) {
        self.source = source
    }

    /// Every parameter the model uses, by name.
    public var names: [String] { parameters.keys.sorted() }

    /// The parameter `name`, or nil when the model has none by that name.
    public func parameter(_ name: String) -> Parameter? { parameters[name] }

    /// Loads `name` with exactly `shape` (called while the model is built).
    func load(_ name: String, shape: [Int]) throws(ModelLoadingError) -> Parameter {
        guard let source else { preconditionFailure("parameters are loaded only while the model is built") }
        let parameter = Parameter(name: name, shape: shape, values: try source.values(name, shape: shape))
        parameters[name] = parameter
        return parameter
    }

    /// Unmaps the checkpoint once the model is built.
    func finishLoading() { source = nil }
}
