import Foundation
@testable import KubernetesClient
import Testing

@Suite struct DecodingTests {
    @Test func podListKeepsPlacementAddressAndReadiness() throws {
        let list = try JSONDecoder().decode(PodList.self, from: recorded("pod-list.json"))
        #expect(list.metadata.resourceVersion == "1042")
        #expect(list.items.map(\.name) == ["tessera-text-decode-5d9c8b7f6-abcde", "tessera-text-decode-5d9c8b7f6-fghij"])
        let running = list.items[0]
        #expect(running.isReady)
        #expect(!running.isTerminating)
        #expect(running.spec?.nodeName == "node-a")
        #expect(running.status?.podIP == "10.78.1.5")
        #expect(running.metadata.labels?["tessera.dev/role"] == "decode")
        let pending = list.items[1]
        #expect(!pending.isReady)
        #expect(pending.status?.phase == "Pending")
        #expect(pending.status?.podIP == nil)
    }

    @Test func scaleAndLease() throws {
        let scale = try JSONDecoder().decode(Scale.self, from: recorded("scale.json"))
        #expect(scale.replicas == 2)
        #expect(scale.status?.selector == "app.kubernetes.io/name=tessera,tessera.dev/group=text,tessera.dev/pool=decode")
        let lease = try JSONDecoder().decode(Lease.self, from: recorded("lease.json"))
        #expect(lease.spec.holderIdentity == "front-end-0")
        #expect(lease.metadata.resourceVersion == "1101")
        let renew = try #require(Lease.parseMicroTime("2026-12-06T15:44:02.654321Z"))
        #expect(abs(try #require(lease.expiry).timeIntervalSince(renew) - 15) < 1e-3)
    }

    @Test func conflictStatusIsAConflict() throws {
        let status = KubernetesClient.status(.conflict, try recorded("status-409.json"))
        #expect(status.reason == "Conflict")
        let error = KubernetesError.api(status)
        #expect(error.isConflict && !error.isGone && !error.isNotFound)
        // A body that is not a Status still yields the HTTP code.
        let bare = KubernetesClient.status(.gone, Data("gone".utf8))
        #expect(KubernetesError.api(bare).isGone)
        #expect(bare.message == "gone")
    }

    @Test func microTimeHasSixFractionalDigitsAndRoundTrips() throws {
        let date = Date(timeIntervalSince1970: 1_796_571_842.654321)
        let text = Lease.microTime(date)
        #expect(text == "2026-12-06T15:44:02.654321Z")
        let back = try #require(Lease.parseMicroTime(text))
        #expect(abs(back.timeIntervalSince(date)) < 1e-3)
        #expect(Lease.parseMicroTime("2026-12-06T15:44:02Z") != nil)
        #expect(Lease.parseMicroTime("yesterday") == nil)
    }

    @Test func deploymentEncodesItsTemplateUnchanged() throws {
        let spec: JSONObject = [
            "containers": [["name": "worker", "image": "tessera:local", "ports": [["containerPort": 7000]],
                            "readinessProbe": ["httpGet": ["path": "/ready", "port": 7001], "periodSeconds": 1]]],
            "terminationGracePeriodSeconds": 60,
        ]
        let deployment = Deployment(
            metadata: ObjectMeta(name: "tessera-text-decode", namespace: "tessera", labels: ["app.kubernetes.io/name": "tessera"]),
            spec: .init(replicas: 1, selector: LabelSelector(["tessera.dev/pool": "decode", "tessera.dev/group": "text"]),
                        template: .init(metadata: ObjectMeta(labels: ["tessera.dev/pool": "decode"]), spec: spec)))
        let data = try JSONEncoder().encode(deployment)
        let json = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["apiVersion"] as? String == "apps/v1")
        #expect(json["kind"] as? String == "Deployment")
        let text = String(decoding: data, as: UTF8.self)
        // Integers stay integers: the API server rejects 7000.0 for a port.
        #expect(text.contains("\"containerPort\":7000"))
        #expect(text.contains("\"terminationGracePeriodSeconds\":60"))
        #expect(try JSONDecoder().decode(Deployment.self, from: data) == deployment)
        #expect(deployment.spec.selector.string == "tessera.dev/group=text,tessera.dev/pool=decode")
    }

    @Test func selectorMatching() {
        let selector = LabelSelector(["a": "1", "b": "2"])
        #expect(selector.matches(["a": "1", "b": "2", "c": "3"]))
        #expect(!selector.matches(["a": "1"]))
        #expect(!selector.matches(nil))
        #expect(LabelSelector([:]).matches(nil))
    }
}
