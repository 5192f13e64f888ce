/// An engine step's seconds as a + b·(prompt tokens) + c·(decoding sequences), fitted online to
/// the steps the engine runs (exponentially weighted least squares, so it follows the machine's
/// load), which lets the scheduler size a step's prefill chunk by time (``StepTimeBudget``) rather than by a fixed token
/// count (Sarathi-Serve §4.3 picks its chunk size from a profiled step time budget; here the profile
/// is the live one).
///
/// ```swift
/// var model = StepTimeModel()
/// model.observe(prefillTokens: 32, decodeSequences: 4, seconds: 0.15)
/// let seconds = model.seconds(prefillTokens: 16, decodeSequences: 4)  // nil until it is fitted
/// ```
public struct StepTimeModel: Sendable {
    /// Weight of the past per observation: about the last 1 / (1 - decay) steps count.
    public var decay = 0.95
    /// Σ w·x·xᵀ and Σ w·x·y over observations x = (1, prompt tokens, decoding sequences), y = seconds.
    private var gram = [[Double]](repeating: [0, 0, 0], count: 3)
    private var moment: [Double] = [0, 0, 0]
    /// Steps with prompt tokens among the observations: the per-token cost is unknown without one.
    private var prefillSteps = 0

    public init() {}

    public mutating func observe(prefillTokens: Int, decodeSequences: Int, seconds: Double) {
        guard prefillTokens + decodeSequences > 0, seconds.isFinite, seconds >= 0 else { return }
        let x = [1, Double(prefillTokens), Double(decodeSequences)]
        for i in 0 ..< 3 {
            moment[i] = decay * moment[i] + x[i] * seconds
            for j in 0 ..< 3 { gram[i][j] = decay * gram[i][j] + x[i] * x[j] }
        }
        if prefillTokens > 0 { prefillSteps += 1 }
    }

    /// (a, b, c): seconds per step, per prompt token and per decoding sequence; nil before any step
    /// with prompt tokens. A small ridge keeps the fit defined when the shapes seen so far do not
    /// vary (every step decoding the same number of sequences, say); costs are kept non-negative.
    public var coefficients: (fixed: Double, perPromptToken: Double, perDecode: Double)? {
        guard prefillSteps > 0 else { return nil }
        var a = gram
        for i in 0 ..< 3 { a[i][i] += 1e-6 * max(gram[i][i], gram[0][0]) }
        guard let solution = Self.solve(a, moment) else { return nil }
        return (max(0, solution[0]), max(0, solution[1]), max(0, solution[2]))
    }

    /// The predicted seconds of a step of this shape; nil before any step with prompt tokens.
    public func seconds(prefillTokens: Int, decodeSequences: Int) -> Double? {
        coefficients.map { $0.fixed + $0.perPromptToken * Double(prefillTokens) + $0.perDecode * Double(decodeSequences) }
    }

    /// Gaussian elimination with partial pivoting on a 3×3 system; nil when it is singular.
    private static func solve(_ matrix: [[Double]], _ rhs: [Double]) -> [Double]? {
        var a = matrix
        var b = rhs
        let n = b.count
        for column in 0 ..< n {
            let pivot = (column ..< n).max { abs(a[$0][column]) < abs(a[$1][column]) }!
            guard abs(a[pivot][column]) > 1e-300 else { return nil }
            a.swapAt(column, pivot)
            b.swapAt(column, pivot)
            for row in column + 1 ..< n {
                let factor = a[row][column] / a[column][column]
                for k in column ..< n { a[row][k] -= factor * a[column][k] }
                b[row] -= factor * b[column]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            let known = (row + 1 ..< n).reduce(0.0) { $0 + a[row][$1] * x[$1] }
            x[row] = (b[row] - known) / a[row][row]
        }
        return x
    }
}
