import Models
import TestFixtures
import Tokenizers
@testable import Engine

extension Fixtures {
    static let names = ["llama-gqa", "qwen2-tied", "llama-sp"]

    static func generator(_ name: String) throws -> TextGenerator {
        let dir = directory(name)
        return TextGenerator(model: try ModelLoader.load(directory: dir), tokenizer: try Tokenizer.load(directory: dir),
                             defaults: try GenerationDefaults.load(directory: dir))
    }
}
