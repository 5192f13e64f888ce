import ArgumentParser
import Cluster
import Foundation
import Tokenizers

/// `tessera train-predictor`: fits UELLM's output-length predictor (``OutputLengthPredictor``) to a
/// JSONL file of prompts and the output lengths they produced, for `tessera serve --output-length-predictor`.
struct TrainPredictorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-predictor",
        abstract: "Train the output-length predictor the SLO-ordered batch policy reads.",
        discussion: """
            Each line of --data is {"prompt": TEXT, "output_tokens": N} with an optional "prompt_tokens" \
            (else the prompt is tokenized with --model's tokenizer, as the server counts it); a simulator \
            trace with prompts works too. The last --holdout fraction of the lines is kept out of training \
            and the predicted-class accuracy on it is printed. The model is written as JSON to --output.
            """
    )

    @Option(help: "JSONL training data.")
    var data: String

    @Option(help: "Where to write the trained predictor (JSON).")
    var output: String

    /// Its tokenizer counts prompt tokens that the data does not give.
    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("class-bounds"), help: "Ascending output-length class bounds in tokens, comma-separated.")
    var classBounds = "64,256,1024"

    @Option(help: "Full-batch gradient-descent epochs.")
    var epochs = 200

    @Option(help: "Fraction of the lines held out to measure accuracy (0 trains on all).")
    var holdout = 0.2

    struct Line: Decodable {
        var prompt: String
        var outputTokens: Int
        var promptTokens: Int?

        enum CodingKeys: String, CodingKey {
            case prompt
            case outputTokens = "output_tokens"
            case promptTokens = "prompt_tokens"
        }
    }

    func run() throws {
        guard (0..<1).contains(holdout) else { throw ValidationError("--holdout must be in [0, 1)") }
        var options = OutputLengthPredictor.TrainingOptions()
        let bounds = classBounds.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !bounds.isEmpty, bounds.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("--class-bounds must be positive integers") }
        options.classBounds = bounds.compactMap { $0 }
        options.epochs = epochs
        let tokenizer = try Tokenizer.load(directory: try modelOptions.modelDirectory())
        var samples: [OutputLengthPredictor.Sample] = []
        let text = try String(contentsOfFile: data, encoding: .utf8)
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let entry: Line
            do { entry = try JSONDecoder().decode(Line.self, from: Data(line.utf8)) } catch {
                throw ValidationError("\(data):\(number + 1): expected {\"prompt\": TEXT, \"output_tokens\": N}: \(error)")
            }
            guard entry.outputTokens >= 1 else { throw ValidationError("\(data):\(number + 1): output_tokens must be at least 1") }
            let promptTokens = entry.promptTokens ?? tokenizer.encode(entry.prompt).count
            samples.append(.init(prompt: entry.prompt, promptTokens: promptTokens, outputTokens: entry.outputTokens))
        }
        let training = samples.count - Int(Double(samples.count) * holdout)
        guard training >= 1 else { throw ValidationError("\(data) has no training samples") }
        let predictor = try OutputLengthPredictor.train(samples: Array(samples[..<training]), options: options)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(predictor).write(to: URL(fileURLWithPath: output))
        var report = "trained on \(training) samples, \(predictor.classCount) classes (median tokens \(predictor.classTokens))"
        if training < samples.count {
            let accuracy = predictor.accuracy(on: Array(samples[training...]))
            report += String(format: "; held-out class accuracy %.3f on %d samples", accuracy, samples.count - training)
        }
        print(report)
    }
}
