import Foundation
import Testing
import Tensor
@testable import Models

/// Unmerged adapters against the same LoRA merged into the weights by module path, and the exact
/// restore from a kept copy.
struct LowRankAdapterTests {
    static let paths = [
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
        "mid_block.attentions.0.transformer_blocks.0.attn2.to_v",
        "up_blocks.2.attentions.1.transformer_blocks.0.ff.net.0.proj",
        "up_blocks.1.attentions.0.proj_out",
        // A 3×3 convolution: a LoCon adapter, its down a 3×3 convolution to `rank` channels.
        "down_blocks.0.resnets.0.conv1",
    ]

    /// A deterministic pseudo-random matrix.
    static func matrix(rows: Int, cols: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0 ..< rows * cols).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 4000
        }
    }

    @Test(arguments: ["sd1-tiny", "sd2-tiny"])
    func unmergedEqualsMergedAndRestoreIsExact(fixture: String) throws {
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder(fixture).appendingPathComponent("unet"))
        let reference = try DiffusionFixtures.reference("\(fixture)-unet")
        let rank = 4
        var adapters = LowRankAdapters()
        var deltas: [(Parameter, [Float])] = []
        for (n, path) in Self.paths.enumerated() {
            let weight = try #require(unet.parameters.parameter(path + ".weight"), "\(path)")
            let (out, inputs) = (weight.shape[0], weight.count / weight.shape[0])
            let down = Self.matrix(rows: rank, cols: inputs, seed: UInt64(2 * n + 1))
            let up = Self.matrix(rows: out, cols: rank, seed: UInt64(2 * n + 2))
            let scale: Float = 0.75 * 8 / Float(rank)  // lora scale · alpha / r
            adapters.add(LowRankAdapter(down: WeightMatrix(values: down, rows: rank, cols: inputs),
                                        up: WeightMatrix(values: up, rows: out, cols: rank), scale: scale), to: path)
            var delta = [Float](repeating: 0, count: out * inputs)
            for o in 0 ..< out { for i in 0 ..< inputs { for r in 0 ..< rank { delta[o * inputs + i] += scale * up[o * rank + r] * down[r * inputs + i] } } }
            deltas.append((weight, delta))
        }
        var rows = try reference.denoiserRows()
        let plain = try unet.predictNoise(rows)
        for i in rows.indices { rows[i].adapters = adapters }
        let unmerged = try unet.predictNoise(rows)
        // Again, with the LoCon's down packed by the first call.
        #expect(try unet.predictNoise(rows).map { $0.pixels.toArray() } == unmerged.map { $0.pixels.toArray() })
        let effect = zip(unmerged[0].pixels.toArray(), plain[0].pixels.toArray()).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(effect > 0.05, "the adapters change the output by only \(effect)")

        let pristine = deltas.map { $0.0.values() }
        for (weight, delta) in deltas { weight.assign(zip(weight.values(), delta).map(+)) }
        for i in rows.indices { rows[i].adapters = LowRankAdapters() }
        let merged = try unet.predictNoise(rows)
        for (a, b) in zip(merged, unmerged) {
            let difference = zip(a.pixels.toArray(), b.pixels.toArray()).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            #expect(difference < 1e-4, "merged vs unmerged max |Δ| \(difference)")
        }
        for ((weight, _), values) in zip(deltas, pristine) { weight.assign(values) }
        let restored = try unet.predictNoise(rows)
        #expect(restored.map { $0.pixels.toArray() } == plain.map { $0.pixels.toArray() })
    }

    @Test func aLoConAdaptersPackedDownIsMadeOnceAndSharedByItsCopies() {
        let adapter = LowRankAdapter(down: WeightMatrix(values: Self.matrix(rows: 2, cols: 36, seed: 1), rows: 2, cols: 36),
                                     up: WeightMatrix(values: Self.matrix(rows: 8, cols: 2, seed: 2), rows: 8, cols: 2), scale: 1)
        var adapters = LowRankAdapters()
        adapters.add(adapter, to: "conv_in")
        #expect(adapter.packedDown === adapters["conv_in"][0].packedDown)
    }

    @Test func mixedAdaptersInOneBatchStayPerRow() throws {
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder("sd1-tiny").appendingPathComponent("unet"))
        var rows = try DiffusionFixtures.reference("sd1-tiny-unet").denoiserRows()
        let path = Self.paths[0]
        let weight = try #require(unet.parameters.parameter(path + ".weight"))
        var adapters = LowRankAdapters()
        adapters.add(LowRankAdapter(down: WeightMatrix(values: Self.matrix(rows: 2, cols: weight.shape[1], seed: 9), rows: 2, cols: weight.shape[1]),
                                    up: WeightMatrix(values: Self.matrix(rows: weight.shape[0], cols: 2, seed: 10), rows: weight.shape[0], cols: 2),
                                    scale: 2), to: path)
        rows[0].adapters = adapters
        let mixed = try unet.predictNoise(rows)
        let plainSecond = try unet.predictNoise([DenoiserInput(sample: rows[1].sample, timestep: rows[1].timestep,
                                                               encoderHiddenStates: rows[1].encoderHiddenStates)])
        #expect(mixed[1].pixels.toArray() == plainSecond[0].pixels.toArray())
        #expect(try maxDifference(mixed[0], try DiffusionFixtures.reference("sd1-tiny-unet"), "noise_pred", row: 0) > 1e-3)
    }

    @Test func everyLinearWeightIsReachableByPath() throws {
        let unet = try UNet2DConditionModel(directory: DiffusionFixtures.folder("sdxl-tiny").appendingPathComponent("unet"))
        let names = unet.parameters.names
        #expect(names.contains("down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight"))
        #expect(names.contains("add_embedding.linear_1.weight"))
        // Every tensor of the checkpoint is used.
        let index = DiffusionFixtures.folder("sdxl-tiny").appendingPathComponent("unet/diffusion_pytorch_model.safetensors.index.json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: index)) as? [String: Any])
        let stored = try #require(json["weight_map"] as? [String: String])
        #expect(Set(stored.keys) == Set(names))
    }
}
