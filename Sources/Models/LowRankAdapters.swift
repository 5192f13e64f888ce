import Foundation
import Tensor

/// One low-rank adapter (LoRA) on one linear layer, applied unmerged: y += scale · (x · downᵀ) · upᵀ.
///
/// `down` is A [rank × in], `up` is B [out × rank]; `scale` is the whole multiplier, i.e. the
/// request's LoRA scale times alpha/rank (diffusers' `scale · alpha / r`).
public struct LowRankAdapter: @unchecked Sendable {
    public let down: WeightMatrix
    public let up: WeightMatrix
    public let scale: Float
    private let downPacking = PackedDown()

    public init(down: WeightMatrix, up: WeightMatrix, scale: Float) {
        precondition(down.rows == up.cols, "LoRA rank mismatch: down has \(down.rows) rows, up has \(up.cols) columns")
        self.down = down
        self.up = up
        self.scale = scale
    }

    public var rank: Int { down.rows }

    /// `down` packed for a LoCon adapter's k×k convolution to `rank` channels (`ImageKernels.conv2d`),
    /// made by the first call that runs it and kept for the adapter's life (an image's LoRAs are
    /// bound once, its steps run them many times).
    var packedDown: PackedWeights {
        downPacking.packed { PackedWeights(weight: down.base.assumingMemoryBound(to: Float.self), outputs: rank, inputs: down.cols) }
    }
}

/// An adapter's packed `down`, shared by its copies.
private final class PackedDown: @unchecked Sendable {
    private let lock = NSLock()
    private var made: PackedWeights?

    func packed(_ make: () -> PackedWeights) -> PackedWeights {
        lock.withLock {
            if let made { return made }
            let packed = make()
            made = packed
            return packed
        }
    }
}

/// The unmerged adapters of one forward pass, by diffusers module path (the layer's weight name
/// without `.weight`), e.g. `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`.
///
/// Every linear layer and every 1×1 convolution of the diffusion models (attention projections,
/// `ff.net.0.proj`, `ff.net.2`, `proj_in`/`proj_out`, `time_emb_proj`, 1×1 shortcuts, a ControlNet's
/// zero convolutions) applies the adapters listed for its path: y = x·Wᵀ + b + Σ scale·(x·Aᵀ)·Bᵀ.
/// The UNet's k×k convolutions (conv_in, conv_out, resnets' conv1/conv2, down- and upsamplers)
/// take LoCon adapters: y = conv(x, W) + b + Σ scale·conv1×1(conv(x, A), B), A a k×k convolution to
/// `rank` channels with the layer's stride and padding ([rank, in·k·k]), B [out, rank].
/// Paths no layer has are never consulted (check them against the model's `parameterNames`).
///
/// ```swift
/// var adapters = LowRankAdapters()
/// adapters.add(LowRankAdapter(down: a, up: b, scale: 0.8 * alpha / Float(rank)),
///              to: "mid_block.attentions.0.transformer_blocks.0.attn2.to_k")
/// let eps = try unet.predictNoise(rows)   // rows carry their own adapters
/// ```
public struct LowRankAdapters: Sendable {
    public private(set) var byModule: [String: [LowRankAdapter]] = [:]

    public init() {}

    public mutating func add(_ adapter: LowRankAdapter, to modulePath: String) {
        byModule[modulePath, default: []].append(adapter)
    }

    public var isEmpty: Bool { byModule.isEmpty }

    public subscript(modulePath: String) -> [LowRankAdapter] { byModule[modulePath] ?? [] }
}

extension LowRankAdapter {
    /// Adds scale · up · down (out × in, row-major; a convolution's kernel flattened as PyTorch
    /// stores it) to `weights`: the merged form of this adapter.
    public func addDelta(to weights: UnsafeMutablePointer<Float>) {
        let (outputs, inputs) = (up.rows, down.cols)
        // up · down as x · Wᵀ with x = up (out × rank) and W = downᵀ (in × rank).
        let downValues = down.toFloatArray()
        var transposed = [Float](repeating: 0, count: inputs * rank)
        for r in 0 ..< rank { for i in 0 ..< inputs { transposed[i * rank + r] = downValues[r * inputs + i] } }
        let delta = Matrix(rows: outputs, cols: inputs)
        WeightMatrix(values: transposed, rows: inputs, cols: rank).multiply(Matrix(rows: outputs, cols: rank, values: up.toFloatArray()), into: delta)
        Kernels.axpy(weights, scale, delta.data, count: outputs * inputs)
    }
}
