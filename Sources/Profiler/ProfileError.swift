/// Why a profile could not be taken or fitted.
public enum ProfileError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidSettings(String)
    /// Fewer measurable points than coefficients (e.g. every prompt length exceeds the model's context).
    case tooFewPoints(stage: String, points: Int, needed: Int)
    /// The model failed on a profiling batch.
    case modelFailed(String)

    public var description: String {
        switch self {
        case let .invalidSettings(reason): "invalid profile settings: \(reason)"
        case let .tooFewPoints(stage, points, needed):
            "\(stage): \(points) measurable points, at least \(needed) needed; give more batch sizes or prompt lengths that fit the model's context"
        case let .modelFailed(reason): "the model failed while profiling: \(reason)"
        }
    }
}
