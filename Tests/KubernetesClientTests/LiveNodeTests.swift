import Foundation
@testable import KubernetesClient
import Testing

/// Against real kubelets: tests/k8s/run.sh starts two nodes (containerd + runc, one in a network
/// namespace) and sets `TESSERA_K8S_NODES=2`. The pool's pods run a static busybox whose readiness
/// probe fails once the pod carries the `tessera.dev/draining` label (seen through a downward-API
/// volume), which is how a draining worker leaves its Deployment.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TESSERA_K8S_NODES"] == "2"), .serialized)
struct LiveNodeTests {
    let live = LiveAPITests()

    func probePool(_ name: String, replicas: Int) -> Deployment {
        let selector: JSONObject = ["matchLabels": ["tessera.dev/pool": .string(name)]]
        let spec: JSONObject = [
            "terminationGracePeriodSeconds": 1,
            "affinity": ["podAntiAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [
                ["labelSelector": selector, "topologyKey": "kubernetes.io/hostname"]]]],
            "volumes": [["name": "podinfo", "downwardAPI": ["items": [["path": "labels", "fieldRef": ["fieldPath": "metadata.labels"]]]]]],
            "containers": [[
                "name": "probe", "image": "tessera/probe:test", "imagePullPolicy": "Never",
                "command": ["/bin/busybox", "sleep", "100000"],
                "volumeMounts": [["name": "podinfo", "mountPath": "/podinfo"]],
                "readinessProbe": [
                    "exec": ["command": ["/bin/busybox", "sh", "-c", "! /bin/busybox grep -q tessera.dev/draining /podinfo/labels"]],
                    "periodSeconds": 1, "failureThreshold": 1,
                ],
            ]],
        ]
        return Deployment(
            metadata: ObjectMeta(name: name, namespace: live.namespace),
            spec: .init(replicas: replicas, selector: LabelSelector(["tessera.dev/pool": name]),
                        template: .init(metadata: ObjectMeta(labels: ["tessera.dev/pool": name, "tessera.dev/role": "decode"]), spec: spec)))
    }

    @Test func drainedPodIsTheOneScaleDownRemovesAndDeletedPodsAreReplaced() async throws {
        let client = try live.client()
        let name = "probe"
        let selector = LabelSelector(["tessera.dev/pool": name])
        func pods() async throws -> [Pod] {
            try await client.pods(matching: selector, namespace: live.namespace).items.filter { !$0.isTerminating }
        }
        try await client.apply(probePool(name, replicas: 2))

        // Two ready pods, one per node, each with an address from its node's pod range.
        #expect(try await live.eventually(120) { try await pods().filter(\.isReady).count == 2 })
        let running = try await pods()
        #expect(Set(running.compactMap { $0.spec?.nodeName }) == ["node-1", "node-2"])
        for pod in running {
            let node = try #require(pod.spec?.nodeName?.split(separator: "-").last)
            #expect(pod.status?.podIP?.hasPrefix("10.80.\(node).") == true, "\(pod.status?.podIP ?? "no IP") on node-\(node)")
        }

        // Drain the pod on node-2: its readiness turns false in place, the pod stays.
        let drained = try #require(running.first { $0.spec?.nodeName == "node-2" })
        let kept = try #require(running.first { $0.spec?.nodeName == "node-1" })
        try await client.patchLabels(pod: drained.name, ["tessera.dev/draining": "true"])
        #expect(try await live.eventually(60) {
            let now = try await pods()
            return now.count == 2 && now.contains { $0.name == drained.name && !$0.isReady }
        })

        // Scaling down by one removes exactly the not-ready pod.
        _ = try await client.setScale(deployment: name, replicas: 1)
        #expect(try await live.eventually(60) { try await pods().map(\.name) == [kept.name] })
        try await Task.sleep(for: .seconds(2))
        #expect(try await pods().map(\.name) == [kept.name])

        // A pod deleted at once (grace 0) is replaced by a new ready one.
        try await client.deletePod(kept.name, gracePeriodSeconds: 0)
        #expect(try await live.eventually(90) {
            let now = try await pods()
            return now.count == 1 && now[0].name != kept.name && now[0].isReady
        })
        _ = try await client.setScale(deployment: name, replicas: 0)
    }
}
