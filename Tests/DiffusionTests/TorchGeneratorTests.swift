import Foundation
import Testing
@testable import Diffusion

@Suite("torch CPU generator parity")
struct TorchGeneratorTests {
    /// Successive `torch.randn` draws from one `manual_seed` generator, covering the scalar path
    /// (fewer than 16 values, with its cached second sample), blocks of 16 and a redrawn tail.
    @Test func randnMatchesTorch() throws {
        let cases = try #require(try Fixtures.json("rng.json")["cases"] as? [[String: Any]])
        #expect(cases.count >= 8)
        var worst: Float = 0
        for entry in cases {
            let seed = try #require(entry["seed"] as? NSNumber).uint64Value
            let shapes = try #require(entry["shapes"] as? [[Int]])
            let values = try #require(entry["values"] as? [[Any]])
            var generator = TorchGenerator(seed: seed)
            for (shape, expected) in zip(shapes, values) {
                let drawn = generator.randn(count: shape.reduce(1, *))
                // Relative to max(1, |x|): torch's transcendental functions and glibc's differ by a few ulps.
                let difference = maxRelativeDifference(drawn, expected.floats)
                worst = max(worst, difference)
                #expect(difference <= 1e-6, "seed \(seed) shape \(shape): max difference \(difference)")
            }
        }
        print("torch.randn parity: max relative difference \(worst)")
    }

    @Test func seedsUseTheirLow32Bits() {
        var a = TorchGenerator(seed: 5)
        var b = TorchGenerator(seed: (1 << 32) + 5)
        #expect(a.randn(count: 20) == b.randn(count: 20))
    }
}
