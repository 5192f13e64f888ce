import Synchronization

/// The activation memory of one computation: the bytes of `Matrix` storage allocated on the
/// thread that runs it, while it runs, and the most of them alive at once. A span follows only its
/// own allocations (a `Matrix` remembers the span it was made in and returns its bytes when it is
/// freed, on any thread), so computations on other threads never enter its numbers. Weights,
/// their packed forms and the kernels' scratch tiles are not `Matrix` storage and are not counted.
///
/// The diffusion engine admits images by these numbers: the peak of a UNet call, of a VAE pass, and
/// what an image keeps between steps.
///
/// ```swift
/// let (_, span) = ActivationSpan.measure { Matrix(rows: 256, cols: 256) }
/// print(span.peakBytes)   // 262144
/// print(span.liveBytes)   // 0: the matrix is gone
/// ```
public final class ActivationSpan: Sendable {
    @TaskLocal private static var current: ActivationSpan?
    /// Spans running now, process-wide: while there are none (a language model's steps), making a
    /// `Matrix` costs one relaxed load here instead of a task-local read.
    private static let running = Atomic<Int>(0)

    private let live = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)

    private init() {}

    /// The bytes allocated in the span that are still alive.
    public var liveBytes: Int { live.load(ordering: .relaxed) }
    /// The most bytes allocated in the span that were alive at once.
    public var peakBytes: Int { peak.load(ordering: .relaxed) }

    /// Runs `body` in a new span (nested spans count in the innermost only).
    public static func measure<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> (R, ActivationSpan) {
        let span = ActivationSpan()
        running.add(1, ordering: .relaxed)
        defer { running.subtract(1, ordering: .relaxed) }
        let result: Result<R, E> = $current.withValue(span) {
            do throws(E) { return .success(try body()) } catch { return .failure(error) }
        }
        return (try result.get(), span)
    }

    /// The span a `Matrix` of `bytes` made now belongs to (counted in it), if any.
    static func allocating(_ bytes: Int) -> ActivationSpan? {
        guard running.load(ordering: .relaxed) > 0, let span = current else { return nil }
        let now = span.live.add(bytes, ordering: .relaxed).newValue
        var seen = span.peak.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = span.peak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
        return span
    }

    func free(_ bytes: Int) { live.subtract(bytes, ordering: .relaxed) }
}
