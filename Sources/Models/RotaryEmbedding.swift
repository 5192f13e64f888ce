import Foundation
import Tensor

/// Rotary position embedding tables, computed with the float32 operation order of the
/// implementation the model is compared with (`OperationOrder`): transformers' for Hugging Face
/// folders, so that cos/sin match it bit for bit in most positions, and ggml's rope cache for GGUF files.
struct RotaryEmbedding: Sendable {
    let headDim: Int
    let theta: Double
    let scaling: RopeScaling
    let order: OperationOrder
    let maxPositionEmbeddings: Int
    /// Frequencies for positions within maxPositionEmbeddings (headDim/2 values).
    let inverseFrequencies: [Float]

    init(config: LanguageModelConfig) {
        headDim = config.headDim
        theta = config.ropeTheta
        scaling = config.ropeScaling
        order = config.operationOrder
        maxPositionEmbeddings = config.maxPositionEmbeddings
        inverseFrequencies = Self.frequencies(headDim: headDim, theta: theta, scaling: scaling, sequenceLength: nil, maxPositionEmbeddings: maxPositionEmbeddings)
    }

    /// transformers' `inv_freq`: 1 / base^(2i/dim) in float32, then scaled per rope type.
    static func frequencies(headDim dim: Int, theta: Double, scaling: RopeScaling, sequenceLength: Int?, maxPositionEmbeddings: Int) -> [Float] {
        var base = theta
        if case let .dynamic(factor) = scaling {
            // Python-float arithmetic, as in _compute_dynamic_ntk_parameters.
            let length = Double(max(sequenceLength ?? maxPositionEmbeddings, maxPositionEmbeddings))
            base = theta * pow(factor * length / Double(maxPositionEmbeddings) - (factor - 1), Double(dim) / Double(dim - 2))
        }
        let floatBase = Float(base)
        let raw: [Float] = stride(from: 0, to: dim, by: 2).map { i in
            let exponent = Float(i) / Float(dim)
            return 1 / Float(pow(Double(floatBase), Double(exponent)))
        }
        switch scaling {
        case .none, .dynamic:
            return raw
        case let .linear(factor):
            return raw.map { $0 / Float(factor) }
        case let .frequencyFactors(factors):
            return zip(raw, factors).map { $0 / $1 }
        case let .llama3(factor, low, high, original):
            let f = Float(factor)
            let lowWavelength = Float(Double(original) / low)
            let highWavelength = Float(Double(original) / high)
            return raw.map { inv in
                let wavelength = Float(2 * Double.pi) / inv
                let scaled = wavelength > lowWavelength ? inv / f : inv
                let smooth = (Float(original) / wavelength - Float(low)) / Float(high - low)
                let smoothed = (1 - smooth) * scaled / f + smooth * scaled
                let medium = !(wavelength < highWavelength) && !(wavelength > lowWavelength)
                return medium ? smoothed : scaled
            }
        }
    }

    /// cos and sin tables (positions.count × headDim/2) for the given absolute positions.
    func tables(for positions: Range<Int>) -> (cos: Matrix, sin: Matrix) {
        if order == .llamaCpp, let tables = ggmlTables(for: positions) { return tables }
        var frequencies = inverseFrequencies
        if case .dynamic = scaling, positions.upperBound > maxPositionEmbeddings {
            frequencies = Self.frequencies(headDim: headDim, theta: theta, scaling: scaling, sequenceLength: positions.upperBound,
                                           maxPositionEmbeddings: maxPositionEmbeddings)
        }
        let half = headDim / 2
        let cosTable = Matrix(rows: positions.count, cols: half)
        let sinTable = Matrix(rows: positions.count, cols: half)
        for (row, position) in positions.enumerated() {
            for i in 0 ..< half {
                // float32 angle, as torch forms position * inv_freq in float32.
                let angle = Double(Float(position) * frequencies[i])
                cosTable[row, i] = Float(Foundation.cos(angle))
                sinTable[row, i] = Float(Foundation.sin(angle))
            }
        }
        return (cosTable, sinTable)
    }

    /// ggml's rope cache (ggml_rope_cache_init): θ starts at the position and is multiplied by
    /// powf(base, -2/d) per frequency in float32, then divided by the frequency factor or scaled
    /// linearly; cosf/sinf of it. nil for the scalings llama.cpp treats otherwise (YaRN, dynamic NTK).
    private func ggmlTables(for positions: Range<Int>) -> (cos: Matrix, sin: Matrix)? {
        var freqScale: Float = 1
        var factors: [Float]? = nil
        switch scaling {
        case .none: break
        case let .linear(factor): freqScale = 1 / Float(factor)
        case let .frequencyFactors(f): factors = f
        case .dynamic, .llama3: return nil
        }
        let half = headDim / 2
        let thetaScale = powf(Float(theta), -2 / Float(headDim))
        let cosTable = Matrix(rows: positions.count, cols: half)
        let sinTable = Matrix(rows: positions.count, cols: half)
        for (row, position) in positions.enumerated() {
            var angle = Float(position)
            for i in 0 ..< half {
                let extrapolated = factors.map { angle / $0[i] } ?? angle
                let interpolated = freqScale * extrapolated
                cosTable[row, i] = cosf(interpolated)
                sinTable[row, i] = sinf(interpolated)
                angle *= thetaScale
            }
        }
        return (cosTable, sinTable)
    }
}
