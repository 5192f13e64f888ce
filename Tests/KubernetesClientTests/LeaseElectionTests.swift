import Foundation
@testable import KubernetesClient
import Testing

@Suite struct LeaseElectionTests {
    let start = ContinuousClock.now
    let wall = Date(timeIntervalSince1970: 1_796_571_842)

    func election(_ identity: String) -> LeaseElection {
        LeaseElection(name: "tessera-front-end", namespace: "tessera", identity: identity, leaseDuration: .seconds(15))
    }

    func stored(_ lease: Lease, version: String) -> Lease {
        var lease = lease
        lease.metadata.resourceVersion = version
        return lease
    }

    @Test func createsAMissingLease() {
        var a = election("a")
        guard case let .create(lease) = a.decide(nil, now: start, wallClock: wall) else { Issue.record("no create"); return }
        #expect(lease.spec.holderIdentity == "a")
        #expect(lease.spec.leaseDurationSeconds == 15)
        #expect(lease.spec.leaseTransitions == 0)
        #expect(lease.metadata.name == "tessera-front-end" && lease.metadata.namespace == "tessera")
        #expect(lease.metadata.resourceVersion == nil)
    }

    @Test func holderRenewsOthersFollowUntilTheRecordStaysUnchangedForTheDuration() throws {
        var a = election("a"), b = election("b")
        guard case let .create(created) = a.decide(nil, now: start, wallClock: wall) else { Issue.record("no create"); return }
        var lease = stored(created, version: "10")

        // b sees a's lease; it is fresh by b's own observation.
        #expect(b.decide(lease, now: start, wallClock: wall) == .follow(holder: "a"))
        // a renews: same holder, new renew time, the resourceVersion it read kept as precondition.
        guard case let .update(renewal) = a.decide(lease, now: start + .seconds(5), wallClock: wall + 5) else {
            Issue.record("no renewal"); return
        }
        #expect(renewal.spec.holderIdentity == "a" && renewal.metadata.resourceVersion == "10")
        #expect(renewal.spec.renewTime == Lease.microTime(wall + 5))
        lease = stored(renewal, version: "11")

        // b saw version 11 at +10 s: still following at +24 s, however old the renew time.
        #expect(b.decide(lease, now: start + .seconds(10), wallClock: wall) == .follow(holder: "a"))
        #expect(b.decide(lease, now: start + .seconds(24), wallClock: wall) == .follow(holder: "a"))
        // 15 s after b first saw version 11 unchanged, b takes over.
        guard case let .update(takeover) = b.decide(lease, now: start + .seconds(25), wallClock: wall + 25) else {
            Issue.record("no takeover"); return
        }
        #expect(takeover.spec.holderIdentity == "b")
        #expect(takeover.spec.leaseTransitions == 1)
        #expect(takeover.metadata.resourceVersion == "11")
        #expect(takeover.spec.acquireTime == Lease.microTime(wall + 25))
    }

    @Test func releasedLeaseIsTakenAtOnce() throws {
        var a = election("a"), b = election("b")
        guard case let .create(created) = a.decide(nil, now: start, wallClock: wall) else { Issue.record("no create"); return }
        let released = try #require(a.released(stored(created, version: "3")))
        #expect(released.spec.holderIdentity == nil)
        #expect(b.released(stored(created, version: "3")) == nil)
        guard case let .update(taken) = b.decide(stored(released, version: "4"), now: start, wallClock: wall) else {
            Issue.record("released lease not taken"); return
        }
        #expect(taken.spec.holderIdentity == "b")
    }
}
