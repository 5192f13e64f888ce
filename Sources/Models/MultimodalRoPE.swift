import Foundation
import Tensor

/// Qwen2-VL's multimodal rotary positions (M-RoPE) of one prompt: a temporal, height and width
/// position per token (transformers' `get_rope_index`), and `delta` (`rope_deltas`) for the tokens
/// after the prompt, which sit at `index + delta` on all three axes.
///
/// ```swift
/// let positions = MRoPEPositions(promptLength: ids.count, images: [(span, [1, 8, 12])], spatialMergeSize: 2)
/// positions.position(axis: 1, token: span.offset + 5)   // the image row of its 6th token
/// ```
public struct MRoPEPositions: Sendable, Equatable {
    /// `[temporal, height, width]`, one position per prompt token each.
    public let axes: [[Int]]
    public let delta: Int

    public var count: Int { axes[0].count }

    public init(axes: [[Int]], delta: Int) {
        precondition(axes.count == 3 && axes.allSatisfy { $0.count == axes[0].count }, "M-RoPE needs three equal-length axes")
        self.axes = axes
        self.delta = delta
    }

    /// Positions of a prompt of `promptLength` tokens whose images fill `images` (spans in
    /// increasing order, grids `[t, h, w]` in patches): text advances by one on every axis; an
    /// image's tokens take (t, row, column) of its merged grid offset by the position it starts at,
    /// and the text after it continues from that start plus the larger merged side.
    public init(promptLength: Int, images: [(span: ImageTokenSpan, grid: [Int])], spatialMergeSize m: Int) {
        var axes = [[Int]](repeating: [], count: 3)
        var next = 0, token = 0
        func text(until end: Int) {
            while token < end {
                for a in 0 ..< 3 { axes[a].append(next) }
                next += 1
                token += 1
            }
        }
        for (span, grid) in images {
            text(until: span.offset)
            let (t, h, w) = (grid[0], grid[1] / m, grid[2] / m)
            for ti in 0 ..< t {
                for hi in 0 ..< h {
                    for wi in 0 ..< w where token < span.offset + span.length {
                        axes[0].append(next + ti)
                        axes[1].append(next + hi)
                        axes[2].append(next + wi)
                        token += 1
                    }
                }
            }
            next += max(h, w)
        }
        text(until: promptLength)
        let largest = axes.map { $0.max() ?? -1 }.max() ?? -1
        self.init(axes: axes, delta: largest + 1 - promptLength)
    }

    /// The positions a decode engine needs to continue a prompt prefilled elsewhere: it computes
    /// only tokens after the prompt's last image, which sit at `index + delta` on every axis.
    public init(delta: Int) {
        self.init(axes: [[], [], []], delta: delta)
    }

    /// Position of token `index` (prompt or later) on `axis` (0 temporal, 1 height, 2 width).
    public func position(axis: Int, token index: Int) -> Int {
        index < count ? axes[axis][index] : index + delta
    }
}

extension MRoPEPositions: Codable {
    private enum CodingKeys: String, CodingKey { case axes, delta }

    /// Decodes positions sent between processes, refusing anything but three equal-length axes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let axes = try container.decode([[Int]].self, forKey: .axes)
        guard axes.count == 3, axes.allSatisfy({ $0.count == axes[0].count }) else {
            throw DecodingError.dataCorruptedError(forKey: .axes, in: container, debugDescription: "M-RoPE needs three equal-length axes")
        }
        self.init(axes: axes, delta: try container.decode(Int.self, forKey: .delta))
    }
}

extension RotaryEmbedding {
    /// cos/sin tables for tokens `tokens` under M-RoPE: frequency i takes its angle from the axis
    /// whose `section` (temporal, height, width widths in frequencies) contains it.
    func tables(for tokens: Range<Int>, mrope: MRoPEPositions, section: [Int]) -> (cos: Matrix, sin: Matrix) {
        let half = headDim / 2
        var axisOf = [Int](repeating: 2, count: half)
        var index = 0
        for (axis, width) in section.enumerated() {
            for _ in 0 ..< width where index < half {
                axisOf[index] = axis
                index += 1
            }
        }
        let cosTable = Matrix(rows: tokens.count, cols: half), sinTable = Matrix(rows: tokens.count, cols: half)
        for (row, token) in tokens.enumerated() {
            for i in 0 ..< half {
                let angle = Double(Float(mrope.position(axis: axisOf[i], token: token)) * inverseFrequencies[i])
                cosTable[row, i] = Float(Foundation.cos(angle))
                sinTable[row, i] = Float(Foundation.sin(angle))
            }
        }
        return (cosTable, sinTable)
    }
}
