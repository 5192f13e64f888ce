import CoreUtilities
import Foundation

/// Instruction prompts whose answer lengths depend on the task, for synthetic traces and for
/// training the output-length predictor where no real prompt/response data is available offline.
///
/// Each task has a median answer length and a log-normal spread, so length classes overlap the
/// way real answers do; what a predictor learns here is the task-to-length relation, not real
/// user behaviour.
public enum SyntheticPrompts {
    struct Task {
        var templates: [String]
        var medianOutput: Double
        var sigma: Double
        var weight: Double
    }

    static let objects = ["dog", "car", "tree", "person", "building", "cat", "bicycle", "chart", "table", "street", "receipt", "painting"]
    static let topics = ["photosynthesis", "the stock market", "neural networks", "the roman empire", "climate change", "vaccines", "black holes", "supply chains", "jazz", "compilers"]
    static let languages = ["French", "German", "Spanish", "Japanese", "Chinese"]
    static let code = ["parses a CSV file", "sorts a list of records by date", "computes prime numbers", "downloads a web page", "resizes an image"]

    static let tasks: [Task] = [
        Task(templates: ["Answer yes or no: is there a {o} in the picture?", "Is the {o} visible? Reply with yes or no."], medianOutput: 4, sigma: 0.5, weight: 1),
        Task(templates: ["What color is the {o}?", "How many {o}s are there?", "What is the {o} made of?"], medianOutput: 12, sigma: 0.6, weight: 1.2),
        Task(templates: ["Give a one-sentence caption for this image.", "Write a short caption."], medianOutput: 28, sigma: 0.4, weight: 1),
        Task(templates: ["Describe the {o} briefly.", "Summarize the following text in a few sentences."], medianOutput: 90, sigma: 0.5, weight: 1.3),
        Task(templates: ["Translate the following paragraph into {l}.", "Rewrite this paragraph in plain English."], medianOutput: 160, sigma: 0.6, weight: 0.8),
        Task(templates: ["Describe this image in detail.", "Explain what is happening in this picture and why."], medianOutput: 300, sigma: 0.5, weight: 1.4),
        Task(templates: ["Explain step by step how {t} works.", "Write Python code that {c}."], medianOutput: 450, sigma: 0.5, weight: 1),
        Task(templates: ["Write a detailed essay about {t}.", "Write a long story about a {o} and {t}.", "Write a complete report on {t} with sections."], medianOutput: 1300, sigma: 0.4, weight: 0.6),
    ]

    /// Draws one instruction prompt and the length of its answer.
    public static func sample(_ rng: inout SplitMix64) -> (prompt: String, outputTokens: Int) {
        let task = tasks[rng.weightedIndex(tasks.map(\.weight))]
        var text = task.templates[Int(rng.next() % UInt64(task.templates.count))]
        for (key, pool) in [("{o}", objects), ("{t}", topics), ("{l}", languages), ("{c}", code)] where text.contains(key) {
            text = text.replacingOccurrences(of: key, with: pool[Int(rng.next() % UInt64(pool.count))])
        }
        let output = max(1, min(4096, Int(rng.logNormal(median: task.medianOutput, sigma: task.sigma).rounded())))
        return (text, output)
    }
}
