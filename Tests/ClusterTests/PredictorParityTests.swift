import Foundation
import Testing
@testable import Cluster

private struct Reference: Decodable {
    struct Query: Decodable {
        var prompt: String
        var promptTokens: Int
        var probabilities: [Double]
    }
    var bounds: [Int]
    var buckets: Int
    var epochs: Int
    var learningRate: Double
    var l2: Double
    var samples: [OutputLengthPredictor.Sample]
    var bias: [Double]
    var weightSum: Double
    var queries: [Query]
}

@Test func predictorTrainingMatchesThePythonReference() throws {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/predictor_reference.json")
    let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    var options = OutputLengthPredictor.TrainingOptions()
    options.classBounds = ref.bounds
    options.buckets = ref.buckets
    options.epochs = ref.epochs
    options.learningRate = ref.learningRate
    options.l2 = ref.l2
    let model = try OutputLengthPredictor.train(samples: ref.samples, options: options)
    for (a, b) in zip(model.bias, ref.bias) { #expect(abs(a - b) < 1e-12) }
    #expect(abs(model.weights.reduce(0, +) - ref.weightSum) < 1e-9)
    for q in ref.queries {
        let p = model.probabilities(prompt: q.prompt, promptTokens: q.promptTokens)
        #expect(p.count == q.probabilities.count)
        for (a, b) in zip(p, q.probabilities) { #expect(abs(a - b) < 1e-12, "\(q.prompt)") }
    }
}
