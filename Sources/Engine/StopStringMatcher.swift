/// Finds stop strings in streamed text and holds back just enough of the tail that a stop
/// string split across tokens is never emitted in part.
///
/// ```swift
/// var m = StopStringMatcher(["</s>"])
/// m.append("Hello </")   // "Hello " (the "</" is held back)
/// m.append("s> more")    // "" and m.isStopped == true
/// ```
public struct StopStringMatcher: Sendable {
    public let stopStrings: [String]
    private let holdBack: Int
    private var pending = ""
    public private(set) var isStopped = false

    public init(_ stopStrings: [String]) {
        self.stopStrings = stopStrings
        holdBack = max(0, (stopStrings.map(\.count).max() ?? 0) - 1)
    }

    /// Adds newly decoded text and returns the part that is safe to emit.
    public mutating func append(_ text: String) -> String {
        guard !isStopped else { return "" }
        guard !stopStrings.isEmpty else { return text }
        pending += text
        if let cut = firstStopIndex() {
            isStopped = true
            defer { pending = "" }
            return String(pending[..<cut])
        }
        let safe = pending.count - holdBack
        guard safe > 0 else { return "" }
        let split = pending.index(pending.startIndex, offsetBy: safe)
        defer { pending = String(pending[split...]) }
        return String(pending[..<split])
    }

    /// Releases the held-back tail once generation has ended for another reason.
    public mutating func finish() -> String {
        defer { pending = "" }
        return isStopped ? "" : pending
    }

    private func firstStopIndex() -> String.Index? {
        stopStrings.compactMap { pending.range(of: $0)?.lowerBound }.min()
    }
}
