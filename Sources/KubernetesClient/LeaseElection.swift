import Foundation

/// Leader election on a coordination/v1 Lease, as client-go's leaderelection does it: a lease is
/// expired when its record has not changed for `leaseDuration` *by the observer's own clock* (so
/// clock skew between replicas does not matter); the holder renews it, anyone takes an expired one
/// over, and every write carries the `resourceVersion` it read, so of two candidates one gets 409.
///
/// This type decides; ``LeaderElector`` reads and writes the lease.
public struct LeaseElection: Sendable {
    public let name: String
    public let namespace: String
    public let identity: String
    public let leaseDuration: Duration
    private var observedVersion: String?
    private var observedAt: ContinuousClock.Instant?

    public enum Decision: Sendable, Equatable {
        /// No lease yet: create it held by us.
        case create(Lease)
        /// Write this lease (a renewal, or a takeover of an expired one), conditional on its resourceVersion.
        case update(Lease)
        /// Someone else holds it, observed alive.
        case follow(holder: String)
    }

    public init(name: String, namespace: String, identity: String, leaseDuration: Duration) {
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.leaseDuration = leaseDuration
    }

    /// What to do given the lease as just read (nil: none exists), at `now` (monotonic, for expiry)
    /// and `wallClock` (for the times written into the lease).
    public mutating func decide(_ current: Lease?, now: ContinuousClock.Instant, wallClock: Date) -> Decision {
        let seconds = Int(leaseDuration.components.seconds)
        let stamp = Lease.microTime(wallClock)
        guard var lease = current else {
            return .create(Lease(
                metadata: ObjectMeta(name: name, namespace: namespace),
                spec: .init(holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: stamp, renewTime: stamp,
                            leaseTransitions: 0)))
        }
        if lease.metadata.resourceVersion != observedVersion || observedAt == nil {
            observedVersion = lease.metadata.resourceVersion
            observedAt = now
        }
        let holder = lease.spec.holderIdentity ?? ""
        let heldFor = Duration.seconds(lease.spec.leaseDurationSeconds ?? seconds)
        if holder == identity {
            lease.spec.renewTime = stamp
            lease.spec.leaseDurationSeconds = seconds
            return .update(lease)
        }
        if !holder.isEmpty, let observedAt, now - observedAt < heldFor { return .follow(holder: holder) }
        lease.spec.holderIdentity = identity
        lease.spec.leaseDurationSeconds = seconds
        lease.spec.acquireTime = stamp
        lease.spec.renewTime = stamp
        lease.spec.leaseTransitions = (lease.spec.leaseTransitions ?? 0) + 1
        return .update(lease)
    }

    /// The lease as written back by its holder on a clean shutdown: no holder, so others take over
    /// at once instead of after the lease duration.
    public func released(_ lease: Lease) -> Lease? {
        guard lease.spec.holderIdentity == identity else { return nil }
        var lease = lease
        lease.spec.holderIdentity = nil
        lease.spec.leaseDurationSeconds = 1
        return lease
    }
}
