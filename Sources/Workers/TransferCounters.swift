import Synchronization

/// KV bytes moved and time spent moving them, per worker; reported with every heartbeat.
final class TransferCounters: Sendable {
    struct Totals {
        var bytesSent = 0
        var bytesReceived = 0
        var seconds = 0.0
        var transfers = 0
    }

    private let totals = Mutex(Totals())

    func sent(_ bytes: Int) { totals.withLock { $0.bytesSent += bytes } }

    func received(_ bytes: Int, seconds: Double) {
        totals.withLock {
            $0.bytesReceived += bytes
            $0.seconds += seconds
            $0.transfers += 1
        }
    }

    var snapshot: Totals { totals.withLock { $0 } }
}
