import Foundation

/// A coordination.k8s.io/v1 Lease: who holds a leadership and until when. Updates carry the
/// `resourceVersion` they were based on, so two writers cannot both win.
public struct Lease: Codable, Sendable, Hashable {
    public var apiVersion = "coordination.k8s.io/v1"
    public var kind = "Lease"
    public var metadata: ObjectMeta
    public var spec: Spec

    public struct Spec: Codable, Sendable, Hashable {
        public var holderIdentity: String?
        public var leaseDurationSeconds: Int?
        /// `MicroTime` strings (RFC 3339 with microseconds); see ``Lease/microTime(_:)``.
        public var acquireTime: String?
        public var renewTime: String?
        public var leaseTransitions: Int?

        public init(
            holderIdentity: String?, leaseDurationSeconds: Int?, acquireTime: String?, renewTime: String?,
            leaseTransitions: Int?
        ) {
            self.holderIdentity = holderIdentity
            self.leaseDurationSeconds = leaseDurationSeconds
            self.acquireTime = acquireTime
            self.renewTime = renewTime
            self.leaseTransitions = leaseTransitions
        }
    }

    public init(metadata: ObjectMeta, spec: Spec) {
        self.metadata = metadata
        self.spec = spec
    }

    /// When the holder's claim runs out: its last renewal plus the lease duration; nil when nobody
    /// holds it or the times do not parse.
    public var expiry: Date? {
        guard spec.holderIdentity?.isEmpty == false, let renew = spec.renewTime.flatMap(Lease.parseMicroTime),
              let duration = spec.leaseDurationSeconds else { return nil }
        return renew.addingTimeInterval(TimeInterval(duration))
    }

    /// `2006-01-02T15:04:05.000000Z`, the wire form of `metav1.MicroTime`.
    public static func microTime(_ date: Date) -> String {
        let total = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (seconds, micros) = (Double(total / 1_000_000), Int(total % 1_000_000))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let whole = formatter.string(from: Date(timeIntervalSince1970: seconds))
        return String(whole.dropLast()) + "." + String(format: "%06d", micros) + "Z"
    }

    /// Parses RFC 3339 times with or without fractional seconds, `Z` or an offset.
    public static func parseMicroTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
