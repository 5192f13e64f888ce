import Foundation
import Testing
import Tensor

/// ``ActivationSpan`` counts the `Matrix` bytes made on its own thread while it runs: the most
/// alive at once, and those still alive, however long they outlive the span and on whatever thread
/// they are freed; other threads' matrices never enter it.
@Suite struct ActivationSpanTests {
    static let kib = 1024 * MemoryLayout<Float>.stride

    @Test func thePeakIsTheMostAliveAtOnce() {
        let (kept, span) = ActivationSpan.measure { () -> Matrix in
            _ = Matrix(rows: 3, cols: 1024)          // freed at once: 3 KiB floats
            let a = Matrix(rows: 2, cols: 1024)
            let b = Matrix(rows: 1, cols: 1024)
            _ = a
            return b
        }
        #expect(span.peakBytes == 3 * Self.kib)
        #expect(span.liveBytes == 1 * Self.kib)
        withExtendedLifetime(kept) {}
    }

    @Test func aMatrixFreedAfterTheSpanOnAnotherThreadIsReturned() async {
        let (box, span) = ActivationSpan.measure { Box(Matrix(rows: 4, cols: 1024)) }
        #expect(span.liveBytes == 4 * Self.kib)
        await Task.detached { box.matrix = nil }.value
        #expect(span.liveBytes == 0 && span.peakBytes == 4 * Self.kib)
    }

    @Test func otherThreadsMatricesAreNotCounted() {
        let started = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let (_, span) = ActivationSpan.measure {
            Thread {
                let other = Matrix(rows: 64, cols: 1024)
                started.signal()
                withExtendedLifetime(other) { done.wait() }
            }.start()
            started.wait()
            let own = Matrix(rows: 1, cols: 1024)
            done.signal()
            withExtendedLifetime(own) {}
        }
        #expect(span.peakBytes == Self.kib)
    }

    private final class Box: @unchecked Sendable {
        var matrix: Matrix?
        init(_ matrix: Matrix) { self.matrix = matrix }
    }
}
