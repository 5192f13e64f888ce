import Foundation

/// Wall time per class of operation while enabled (`tessera bench diffusion --profile`), to say
/// where a forward pass spends its time. Off by default: `measure` then only runs its body.
/// Operations nest (a convolution inside a resnet block is timed once, by its own class); the
/// caller's total minus the classes' sum is everything else.
///
/// ```swift
/// OpProfile.start()
/// _ = try unet.predictNoise(rows)
/// for (kind, seconds) in OpProfile.stop() { print(kind, seconds) }
/// ```
public enum OpProfile {
    public enum Kind: String, CaseIterable, Sendable {
        case convolution3x3Winograd = "conv 3×3 (Winograd)"
        case convolutionIm2col = "conv k×k (im2col)"
        case linear = "linear / 1×1 conv"
        case attention = "attention (scores, softmax, PV)"
        case normalization = "GroupNorm / LayerNorm"
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var enabled = false
    nonisolated(unsafe) private static var totals: [Kind: Double] = [:]

    public static func start() {
        lock.lock()
        defer { lock.unlock() }
        totals = [:]
        enabled = true
    }

    /// Stops and returns seconds per class since `start`.
    public static func stop() -> [Kind: Double] {
        lock.lock()
        defer { lock.unlock() }
        enabled = false
        return totals
    }

    /// Runs `body`, adding its wall time to `kind` while profiling.
    @inline(__always)
    public static func measure<R>(_ kind: Kind, _ body: () throws -> R) rethrows -> R {
        guard enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            lock.lock()
            totals[kind, default: 0] += seconds
            lock.unlock()
        }
        return try body()
    }
}
