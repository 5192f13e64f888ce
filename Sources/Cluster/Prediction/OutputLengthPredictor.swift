import Foundation

/// UELLM's resource profiler (arXiv 2409.14961, §4.1): predicts a request's output-length class
/// from its prompt so the batch scheduler can group similar lengths.
///
/// The paper fine-tunes a language model; we use multinomial logistic regression over hashed
/// prompt features (``PromptFeatures``), small enough to train and run on a CPU in milliseconds
/// and easy to check against a reference implementation.
///
/// ```swift
/// let predictor = try OutputLengthPredictor.train(samples: data)
/// let tokens = predictor.predictedTokens(prompt: "Describe the image in detail.", promptTokens: 900)
/// ```
public struct OutputLengthPredictor: Sendable, Hashable, Codable {
    /// A training example.
    public struct Sample: Sendable, Hashable, Codable {
        public var prompt: String
        public var promptTokens: Int
        public var outputTokens: Int

        public init(prompt: String, promptTokens: Int, outputTokens: Int) {
            self.prompt = prompt
            self.promptTokens = promptTokens
            self.outputTokens = outputTokens
        }
    }

    /// Exclusive upper bounds of every class but the last, ascending (e.g. `[64, 256, 1024]` → 4 classes).
    public var classBounds: [Int]
    /// Tokens reported for each class: the median output length of the class in the training data.
    public var classTokens: [Int]
    public var buckets: Int
    /// Row-major `[class][bucket]`.
    public var weights: [Double]
    public var bias: [Double]

    public var classCount: Int { classBounds.count + 1 }

    /// The class of a true output length.
    public func lengthClass(of outputTokens: Int) -> Int {
        classBounds.firstIndex { outputTokens < $0 } ?? classBounds.count
    }

    /// Class probabilities for a prompt.
    public func probabilities(prompt: String, promptTokens: Int) -> [Double] {
        probabilities(features: PromptFeatures.indices(prompt: prompt, promptTokens: promptTokens, buckets: buckets))
    }

    /// The most likely class (lowest index on ties).
    public func predictedClass(prompt: String, promptTokens: Int) -> Int {
        let p = probabilities(prompt: prompt, promptTokens: promptTokens)
        var best = 0
        for k in p.indices where p[k] > p[best] { best = k }
        return best
    }

    /// Representative output tokens of the predicted class.
    public func predictedTokens(prompt: String, promptTokens: Int) -> Int {
        classTokens[predictedClass(prompt: prompt, promptTokens: promptTokens)]
    }

    /// Fraction of samples whose class is predicted exactly.
    public func accuracy(on samples: [Sample]) -> Double {
        guard !samples.isEmpty else { return 0 }
        let hits = samples.count { predictedClass(prompt: $0.prompt, promptTokens: $0.promptTokens) == lengthClass(of: $0.outputTokens) }
        return Double(hits) / Double(samples.count)
    }

    func probabilities(features: [Int]) -> [Double] {
        var logits = bias
        for k in 0..<classCount {
            let row = k * buckets
            for f in features { logits[k] += weights[row + f] }
        }
        let top = logits.max() ?? 0
        let e = logits.map { Foundation.exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}
