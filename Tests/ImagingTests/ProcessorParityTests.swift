import Crypto
import Foundation
import Testing
@testable import Imaging

@Suite struct ProcessorParityTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let processor: String
        let image: String
        var testDescription: String { "\(processor) / \(image)" }
    }

    static let cases: [Case] = Fixtures.references.processors.keys.sorted().flatMap { processor in
        (Fixtures.references.processors[processor]?.images.keys.sorted() ?? []).map { Case(processor: processor, image: $0) }
    }

    @Test(arguments: cases)
    func matchesTransformersPILBackend(_ testCase: Case) throws {
        let table = try #require(Fixtures.references.processors[testCase.processor])
        let reference = try #require(table.images[testCase.image])
        let image = try ImageDecoder.decode(contentsOf: Fixtures.good(testCase.image))
        let processor = try ImageProcessorLoader.load(directory: Fixtures.processor(testCase.processor))

        // After rescale, before normalize: within 1/255 of the reference levels, and in fact identical.
        let rescaled = try Self.withoutNormalization(processor).preprocess(image)
        #expect(rescaled.shape == reference.shape)
        let levels = try Fixtures.levels(table.levels_file)
        let count = reference.shape.reduce(1, *)
        try #require(rescaled.pixelValues.count == count && reference.levels_offset + count <= levels.count)
        var worst: Float = 0
        for i in 0..<count {
            let expected = Float(levels[reference.levels_offset + i]) / 255
            worst = max(worst, abs(rescaled.pixelValues[i] - expected))
        }
        #expect(worst <= 1.0 / 255 + 1e-6, "max deviation \(worst * 255)/255")
        #expect(Self.floatHash(rescaled.pixelValues) == reference.rescaled_sha256, "rescaled values differ (max \(worst * 255)/255)")

        let output = try processor.preprocess(image)
        #expect(output.shape == reference.shape)
        #expect(output.gridTHW == reference.grid_thw)
        for (index, value) in reference.normalized_head.enumerated() {
            #expect(output.pixelValues[index] == Float(value), "normalized value \(index)")
        }
        #expect(Self.floatHash(output.pixelValues) == reference.normalized_sha256)
        if let grid = reference.grid_thw {
            #expect(output.numImageTokens == grid.reduce(1, *) / 4)
        }
    }

    static func withoutNormalization(_ processor: any ImageProcessor) -> any ImageProcessor {
        if var clip = processor as? ResizeCropImageProcessor {
            clip.normalization.doNormalize = false
            return clip
        }
        if var qwen = processor as? Qwen2VLImageProcessor {
            qwen.normalization.doNormalize = false
            return qwen
        }
        return processor
    }

    static func floatHash(_ values: [Float]) -> String {
        SHA256.hex(values.withUnsafeBytes { [UInt8]($0) })
    }
}
