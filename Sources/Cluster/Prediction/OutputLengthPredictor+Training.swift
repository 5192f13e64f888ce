import Foundation

extension OutputLengthPredictor {
    /// Training settings; the defaults are what the shipped experiments use.
    public struct TrainingOptions: Sendable, Hashable, Codable {
        public var classBounds: [Int] = [64, 256, 1024]
        public var buckets: Int = 4096
        public var epochs: Int = 200
        public var learningRate: Double = 0.5
        /// L2 penalty on the weights (not the biases).
        public var l2: Double = 1e-4

        public init() {}
    }

    /// Trains by full-batch gradient descent on the mean softmax cross-entropy, starting from zero
    /// weights, so a run is deterministic and reproducible by the reference script.
    public static func train(samples: [Sample], options: TrainingOptions = TrainingOptions()) throws -> OutputLengthPredictor {
        guard !samples.isEmpty else { throw ClusterError.invalidArgument("no training samples") }
        guard options.buckets > 0, options.epochs >= 0, options.learningRate > 0, options.l2 >= 0 else {
            throw ClusterError.invalidArgument("buckets and learning rate must be positive, epochs and l2 non-negative")
        }
        guard zip(options.classBounds, options.classBounds.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw ClusterError.invalidArgument("class bounds must be strictly ascending")
        }
        var model = OutputLengthPredictor(classBounds: options.classBounds, classTokens: [], buckets: options.buckets,
                                          weights: [], bias: [])
        let k = model.classCount
        model.weights = [Double](repeating: 0, count: k * options.buckets)
        model.bias = [Double](repeating: 0, count: k)
        let features = samples.map { PromptFeatures.indices(prompt: $0.prompt, promptTokens: $0.promptTokens, buckets: options.buckets) }
        let labels = samples.map { model.lengthClass(of: $0.outputTokens) }
        model.classTokens = (0..<k).map { c in
            let lengths = samples.filter { model.lengthClass(of: $0.outputTokens) == c }.map(\.outputTokens).sorted()
            if !lengths.isEmpty { return lengths[lengths.count / 2] }
            // An empty class reports the middle of its range.
            let low = c == 0 ? 1 : options.classBounds[c - 1]
            let high = c < options.classBounds.count ? options.classBounds[c] : low * 2
            return (low + high) / 2
        }
        let scale = 1 / Double(samples.count)
        var gradW = [Double](repeating: 0, count: model.weights.count)
        var gradB = [Double](repeating: 0, count: k)
        for _ in 0..<options.epochs {
            for i in gradW.indices { gradW[i] = 0 }
            for c in 0..<k { gradB[c] = 0 }
            for (x, y) in zip(features, labels) {
                let p = model.probabilities(features: x)
                for c in 0..<k {
                    let g = (p[c] - (c == y ? 1 : 0)) * scale
                    gradB[c] += g
                    let row = c * options.buckets
                    for f in x { gradW[row + f] += g }
                }
            }
            for i in model.weights.indices {
                model.weights[i] -= options.learningRate * (gradW[i] + options.l2 * model.weights[i])
            }
            for c in 0..<k { model.bias[c] -= options.learningRate * gradB[c] }
        }
        return model
    }
}
