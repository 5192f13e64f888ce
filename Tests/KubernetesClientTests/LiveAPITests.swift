import Foundation
@testable import KubernetesClient
import Testing

/// Against a real API server: tests/k8s/run.sh starts one (etcd, kube-apiserver, controller-manager,
/// scheduler) and sets `TESSERA_K8S_LIVE=1`, `KUBECONFIG` (bearer token) and
/// `TESSERA_K8S_KUBECONFIG_CERT` (client certificate). Each test works in its own namespace,
/// created beforehand by the script.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TESSERA_K8S_LIVE"] == "1"), .serialized)
struct LiveAPITests {
    let namespace = ProcessInfo.processInfo.environment["TESSERA_K8S_NAMESPACE"] ?? "tessera-client-test"

    func client(_ variable: String = "KUBECONFIG") throws -> KubernetesClient {
        let path = try #require(ProcessInfo.processInfo.environment[variable])
        var config = try KubernetesConfig.kubeconfig(path: path)
        config.namespace = namespace
        return try KubernetesClient(config)
    }

    func pool(_ name: String, replicas: Int, image: String = "tessera:test") -> Deployment {
        Deployment(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: ["app.kubernetes.io/name": "tessera"]),
            spec: .init(
                replicas: replicas, selector: LabelSelector(["tessera.dev/pool": name]),
                template: .init(metadata: ObjectMeta(labels: ["tessera.dev/pool": name, "tessera.dev/role": "decode"]),
                                spec: ["containers": [["name": "worker", "image": .string(image), "imagePullPolicy": "Never"]]])))
    }

    /// Polls until `condition` holds, for up to `seconds`.
    func eventually(_ seconds: Double = 30, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    @Test func bothCredentialKindsAuthenticate() async throws {
        for variable in ["KUBECONFIG", "TESSERA_K8S_KUBECONFIG_CERT"] {
            let client = try client(variable)
            #expect(try await client.lease("absent-\(variable.lowercased())") == nil)
            await #expect(throws: KubernetesError.self) { _ = try await client.scale(deployment: "absent") }
        }
    }

    @Test func scaleSubresourceDrivesTheReplicaSetAndTheWatchSeesIt() async throws {
        let client = try client()
        let name = "pool-scale"
        let created = try await client.apply(pool(name, replicas: 1))
        #expect(created.spec.replicas == 1)
        let selector = LabelSelector(["tessera.dev/pool": name])
        let informer = PodInformer(client: client, selector: selector, namespace: namespace)
        let seen = PodsSeen()
        let watching = Task { for await update in informer.updates() { await seen.set(update.pods) } }
        defer { watching.cancel() }
        #expect(try await eventually { await seen.count == 1 })

        #expect(try await client.scale(deployment: name).replicas == 1)
        let scaled = try await client.setScale(deployment: name, replicas: 3)
        #expect(scaled.replicas == 3)
        #expect(try await eventually { await seen.count == 3 })

        // Re-applying a changed template leaves the replica count to whoever scales it.
        var changed = pool(name, replicas: 1, image: "tessera:test2")
        changed.metadata.labels?["tessera.dev/generation"] = "2"
        let patched = try await client.apply(changed)
        #expect(patched.spec.replicas == 3)
        #expect(patched.metadata.labels?["tessera.dev/generation"] == "2")
        // The server adds defaults to the template; the fields sent come back as sent.
        guard case let .array(containers)? = try await client.deployment(name).spec.template.spec["containers"] else {
            Issue.record("no containers in the stored template"); return
        }
        #expect(containers.count == 1)
        #expect(containers.first?["image"] == "tessera:test2")
        #expect(containers.first?["imagePullPolicy"] == "Never")

        _ = try await client.setScale(deployment: name, replicas: 0)
        #expect(try await eventually { await seen.count == 0 })
    }

    @Test func relabellingOutsideTheSelectorKeepsThePodAndDeletionReplacesIt() async throws {
        let client = try client()
        let name = "pool-labels"
        try await client.apply(pool(name, replicas: 1))
        let selector = LabelSelector(["tessera.dev/pool": name])
        #expect(try await eventually { try await client.pods(matching: selector, namespace: namespace).items.count == 1 })
        let pod = try #require(try await client.pods(matching: selector, namespace: namespace).items.first)

        let relabelled = try await client.patchLabels(pod: pod.name, ["tessera.dev/role": "prefill", "tessera.dev/extra": nil])
        #expect(relabelled.metadata.labels?["tessera.dev/role"] == "prefill")
        try await Task.sleep(for: .seconds(2))
        let after = try await client.pods(matching: selector, namespace: namespace).items
        #expect(after.map(\.name) == [pod.name])
        #expect(after.first?.metadata.labels?["tessera.dev/role"] == "prefill")

        try await client.deletePod(pod.name, gracePeriodSeconds: 0)
        #expect(try await eventually {
            let names = try await client.pods(matching: selector, namespace: namespace).items.filter { !$0.isTerminating }.map(\.name)
            return names.count == 1 && names != [pod.name]
        })
        await #expect(throws: KubernetesError.self) { try await client.deletePod("no-such-pod", gracePeriodSeconds: 0) }
    }

    @Test func watchFromAnExpiredVersionIsGone() async throws {
        let client = try client()
        // The server refuses either before the stream (HTTP 410) or as its first event (ERROR 410);
        // both mean: list again.
        var cache = PodCache()
        var gone = false
        do {
            for try await event in client.watchPods(matching: LabelSelector(["tessera.dev/pool": "none"]), resourceVersion: "1",
                                                     timeoutSeconds: 5, namespace: namespace) {
                if try cache.apply(event) == .relist { gone = true; break }
            }
        } catch let error as KubernetesError {
            gone = error.isGone
        }
        #expect(gone)
    }

    @Test func leaseWritesArePreconditionedOnTheirVersion() async throws {
        let client = try client()
        var election = LeaseElection(name: "lease-direct", namespace: namespace, identity: "a", leaseDuration: .seconds(10))
        guard case let .create(lease) = election.decide(nil, now: .now, wallClock: Date()) else { Issue.record("no create"); return }
        let created = try await client.createLease(lease)
        await #expect { _ = try await client.createLease(lease) } throws: { ($0 as? KubernetesError)?.isConflict == true }
        var renewed = created
        renewed.spec.renewTime = Lease.microTime(Date())
        let stored = try await client.updateLease(renewed)
        #expect(stored.metadata.resourceVersion != created.metadata.resourceVersion)
        // Written from the version read before the renewal: someone else got there first.
        var stale = created
        stale.spec.holderIdentity = "b"
        await #expect { _ = try await client.updateLease(stale) } throws: { ($0 as? KubernetesError)?.isConflict == true }
        #expect(try await client.lease("lease-direct")?.spec.holderIdentity == "a")
    }

    @Test func leadershipMovesWhenTheLeaderStops() async throws {
        let client = try client()
        func elector(_ identity: String) -> LeaderElector {
            LeaderElector(client: client, election: LeaseElection(
                name: "lease-failover", namespace: namespace, identity: identity, leaseDuration: .seconds(3)),
                retryPeriod: .milliseconds(300))
        }
        let a = elector("a"), b = elector("b")
        await a.attempt()
        // b's clock for the lease starts when it first sees the record.
        let started = ContinuousClock.now
        await b.attempt()
        #expect(a.isLeader && !b.isLeader)
        #expect(b.holder == "a")
        // a stops renewing (a crash, not a release): b takes over once it has seen the record
        // unchanged for the lease duration.
        #expect(try await eventually(10) { await b.attempt(); return b.isLeader })
        #expect(ContinuousClock.now - started >= .seconds(3))
        await a.attempt()
        #expect(!a.isLeader)
        // b releases on a clean stop: a leads on its next attempt, without waiting.
        await b.release()
        await a.attempt()
        #expect(a.isLeader)
        #expect(try await client.lease("lease-failover")?.spec.leaseTransitions == 2)
    }
}

/// The pod set an informer last reported, read from the test.
actor PodsSeen {
    private var pods: [String: Pod] = [:]
    func set(_ pods: [String: Pod]) { self.pods = pods }
    var count: Int { pods.values.filter { !$0.isTerminating }.count }
}
