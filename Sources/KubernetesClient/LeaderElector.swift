import Foundation
import Synchronization

/// Runs a ``LeaseElection`` against the API server: tries every `retryPeriod`, and while leading
/// renews on the same period; leadership is given up when renewals fail for `renewDeadline`
/// (shorter than the lease duration, so nobody else can have taken over yet).
///
/// ```swift
/// let elector = LeaderElector(client: client, election: LeaseElection(
///     name: "tessera-front-end", namespace: "tessera", identity: podName, leaseDuration: .seconds(15)))
/// Task { await elector.run() }
/// if elector.isLeader { /* write /scale */ }
/// ```
public final class LeaderElector: Sendable {
    public let client: KubernetesClient
    public let retryPeriod: Duration
    public let renewDeadline: Duration
    private let election: Mutex<LeaseElection>
    private let state = Mutex<(leading: Bool, lastRenewal: ContinuousClock.Instant?, lease: Lease?, holder: String?)>(
        (false, nil, nil, nil))
    private let changes: AsyncStream<Bool>.Continuation
    /// `true` when this replica becomes leader, `false` when it stops being one.
    public let leadership: AsyncStream<Bool>

    public init(client: KubernetesClient, election: LeaseElection, retryPeriod: Duration = .seconds(2), renewDeadline: Duration? = nil) {
        self.client = client
        self.election = Mutex(election)
        self.retryPeriod = retryPeriod
        self.renewDeadline = renewDeadline ?? election.leaseDuration * 2 / 3
        (leadership, changes) = AsyncStream.makeStream(of: Bool.self)
    }

    public var isLeader: Bool { state.withLock { $0.leading } }
    /// The identity holding the lease when last read, ours included.
    public var holder: String? { state.withLock { $0.holder } }
    public var identity: String { election.withLock { $0.identity } }

    /// Campaigns and renews until cancelled; then releases the lease if held.
    public func run() async {
        while !Task.isCancelled {
            await attempt()
            try? await Task.sleep(for: retryPeriod)
        }
        await release()
    }

    /// One read-decide-write round.
    public func attempt() async {
        let now = ContinuousClock.now
        let (name, namespace) = election.withLock { ($0.name, $0.namespace) }
        do {
            let current = try await client.lease(name, namespace: namespace)
            let decision = election.withLock { $0.decide(current, now: now, wallClock: Date()) }
            switch decision {
            case let .create(lease): record(try await client.createLease(lease), at: now)
            case let .update(lease): record(try await client.updateLease(lease), at: now)
            case let .follow(holder): follow(holder)
            }
        } catch where error.isConflict {
            // Someone else wrote first: they lead (the next read says who).
            setLeading(false, holder: nil)
        } catch {
            let expired = state.withLock { s in s.leading && (s.lastRenewal.map { now - $0 > renewDeadline } ?? true) }
            if expired { setLeading(false, holder: nil) }
        }
    }

    private func record(_ lease: Lease, at now: ContinuousClock.Instant) {
        state.withLock { $0.lastRenewal = now; $0.lease = lease }
        setLeading(true, holder: lease.spec.holderIdentity)
    }

    private func follow(_ holder: String) { setLeading(false, holder: holder) }

    private func setLeading(_ leading: Bool, holder: String?) {
        let changed = state.withLock { s in
            defer { s.leading = leading; if let holder { s.holder = holder } }
            if !leading { s.lease = nil }
            return s.leading != leading
        }
        if changed { changes.yield(leading) }
    }

    /// Writes the lease back without a holder so another replica takes over at once.
    public func release() async {
        guard let lease = state.withLock({ $0.lease }), let released = election.withLock({ $0.released(lease) }) else { return }
        _ = try? await client.updateLease(released)
        setLeading(false, holder: nil)
    }
}
