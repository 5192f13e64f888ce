import CKernels
import Synchronization

/// Float32 copies of 16-bit weight matrices, kept so that prefill steps run SGEMM on them directly
/// instead of widening the weights on every step.
///
/// A step of a few prompt tokens (a short chunk, the uncached tail of a prompt) reads every weight
/// for little arithmetic, so widening them is a sizeable share of its time: on the default model,
/// 0.2 ms of a 1.9 ms step of 10 tokens. Copies are made on a matrix's first prefill and count against a budget;
/// a matrix that no longer fits keeps widening per step, as before. Decode steps read the stored
/// 16-bit weights either way. Widening is exact, so results do not change.
///
/// ```swift
/// WidenedWeights.shared.setBudget(bytes: 256 << 20)   // e.g. from `--widened-weight-memory 256`
/// ```
public final class WidenedWeights: Sendable {
    /// 512 MiB: every model of a few hundred million parameters or less fits whole.
    public static let defaultBudgetBytes = 512 << 20
    /// The budget every loaded weight matrix draws on.
    public static let shared = WidenedWeights(budgetBytes: defaultBudgetBytes)

    private let remaining: Mutex<Int>

    public init(budgetBytes: Int) {
        remaining = Mutex(max(0, budgetBytes))
    }

    /// Sets the budget for copies made from now on (copies already made stay).
    public func setBudget(bytes: Int) {
        remaining.withLock { $0 = max(0, bytes) }
    }

    /// Takes `bytes` from the budget; false when they do not fit.
    func reserve(_ bytes: Int) -> Bool {
        remaining.withLock { left in
            guard bytes <= left else { return false }
            left -= bytes
            return true
        }
    }

    /// Gives the bytes of a released copy back.
    func release(_ bytes: Int) {
        remaining.withLock { $0 += bytes }
    }
}

/// One matrix's widened copy, shared by the copies of its `WeightMatrix` value.
final class WidenedCopy: Sendable {
    private enum State { case none, made(UnsafeMutablePointer<Float>, count: Int), refused }
    private let state = Mutex(State.none)
    private let budget: WidenedWeights

    init(budget: WidenedWeights = .shared) {
        self.budget = budget
    }

    deinit {
        state.withLock { state in
            guard case let .made(pointer, count) = state else { return }
            pointer.deallocate()
            budget.release(count * 4)
        }
    }

    /// The float32 copy of `matrix`, made on first use; nil when the budget has no room for it.
    func floats(of matrix: WeightMatrix) -> UnsafePointer<Float>? {
        state.withLock { state in
            switch state {
            case let .made(pointer, _): return UnsafePointer(pointer)
            case .refused: return nil
            case .none:
                let count = matrix.rows * matrix.cols
                guard budget.reserve(count * 4) else {
                    state = .refused
                    return nil
                }
                let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
                ck_convert_matrix_parallel(matrix.dtype.kernelType, matrix.base, matrix.cols, matrix.rows, matrix.cols, pointer)
                state = .made(pointer, count: count)
                return UnsafePointer(pointer)
            }
        }
    }
}
