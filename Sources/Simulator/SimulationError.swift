/// Errors of the simulator on bad input.
public enum SimulationError: Error, Equatable, Sendable {
    case unreadableFile(String, String)
    case invalidFile(String, String)
    /// A trace line or row could not be parsed: file, 1-based line, reason.
    case invalidTraceLine(String, Int, String)
    case invalidConfig(String)
}
