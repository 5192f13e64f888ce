import Testing
@testable import Cluster

@Test func predictorLearnsSeparableTasksAndRejectsBadInput() throws {
    var samples: [OutputLengthPredictor.Sample] = []
    for i in 0..<40 {
        samples.append(.init(prompt: "answer yes or no \(i)", promptTokens: 8, outputTokens: 3))
        samples.append(.init(prompt: "write a long essay about topic \(i)", promptTokens: 10, outputTokens: 1500))
        samples.append(.init(prompt: "describe the picture \(i)", promptTokens: 9, outputTokens: 150))
    }
    let model = try OutputLengthPredictor.train(samples: samples)
    #expect(model.accuracy(on: samples) == 1)
    #expect(model.predictedClass(prompt: "please write a long essay", promptTokens: 10) == 3)
    #expect(model.predictedTokens(prompt: "answer yes or no", promptTokens: 8) == 3)
    #expect(throws: ClusterError.self) { try OutputLengthPredictor.train(samples: []) }
    var bad = OutputLengthPredictor.TrainingOptions()
    bad.classBounds = [100, 50]
    #expect(throws: ClusterError.self) { try OutputLengthPredictor.train(samples: samples, options: bad) }
}
