import ArgumentParser
import CoreUtilities
import Foundation
import Imaging
import Models
import Tensor

/// `tessera bench encode`: vision-encoder throughput of a vision tower or vision-language model folder.
struct BenchEncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Measure vision encoding: images/s and vision tokens/s, one image per call.",
        discussion: """
        --model is a CLIPVisionModel / SiglipVisionModel folder (the tower's forward pass) or a
        LLaVA / Qwen2-VL folder (encodeImage: tower plus projector or merger). Random images of
        --size are preprocessed by the folder's image processor before timing starts; one warm-up
        image is encoded first. Vision tokens are the tower's output rows (LLaVA / Qwen2-VL: the
        image tokens the language model receives).
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Images to encode (after one warm-up image).")
    var images = 16

    @Option(help: "Image size before preprocessing, WIDTHxHEIGHT.")
    var size = "224x224"

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard images >= 1 else { throw ValidationError("--images must be at least 1") }
        _ = try dimensions()
    }

    private func dimensions() throws -> (width: Int, height: Int) {
        let parts = size.lowercased().split(separator: "x")
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]), width > 0, height > 0 else {
            throw ValidationError("--size must look like 224x224")
        }
        return (width, height)
    }

    func run() throws {
        try modelOptions.applyComputeSettings()
        guard let model = try modelOptions.singleModel() else { throw ValidationError("--model is required") }
        let directory = URL(fileURLWithPath: model)
        let architecture = try ModelLoader.architecture(directory: directory)
        let encode: (PreprocessedImage) throws -> Int
        if ModelLoader.visionLanguageArchitectures.contains(architecture) {
            let vlm = try ModelLoader.loadVisionLanguageModel(directory: directory)
            encode = { try vlm.encodeImage($0).rows }
        } else {
            let tower = try ModelLoader.loadVisionTower(directory: directory)
            encode = { try tower.forward($0).lastHiddenState.rows }
        }
        let processor = try ImageProcessorLoader.load(directory: directory)
        let (width, height) = try dimensions()
        var random = SplitMix64(seed: 1)
        let inputs = try (0 ... images).map { _ in
            let pixels = (0 ..< width * height * 3).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            return try processor.preprocess(try RGBImage(width: width, height: height, pixels: pixels))
        }

        _ = try encode(inputs[0])
        var tokens = 0
        var perImage: [Double] = []
        for input in inputs.dropFirst() {
            let start = DispatchTime.now().uptimeNanoseconds
            tokens += try encode(input)
            perImage.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let total = perImage.reduce(0, +)
        let median = perImage.sorted()[perImage.count / 2]
        let threads = ComputeThreads.count
        if json {
            let object: [String: Any] = [
                "images_per_s": Double(images) / total,
                "vision_tokens_per_s": Double(tokens) / total,
                "median_ms_per_image": median * 1000,
                "tokens_per_image": tokens / images,
                "images": images,
                "threads": threads,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("threads: \(threads), \(images) images of \(width)x\(height), \(tokens / images) vision tokens each")
            print(String(format: "%.2f images/s, %.1f vision tokens/s, median %.1f ms/image", Double(images) / total, Double(tokens) / total, median * 1000))
        }
    }
}
