import Cluster
import Foundation
@testable import FrontEnd
import KubernetesClient
import Testing

/// What the Kubernetes instance provider asks the API server for; tests/k8s/pd.sh runs it against
/// a real cluster.
@Suite struct KubernetesProviderTests {
    func placement(_ text: String) throws(FrontEndError) -> KubernetesSettings? {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("topology-\(UUID().uuidString).yaml")
        try? text.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        return try KubernetesSettings.placement(contentsOf: url)
    }

    static let groups = "groups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}\n"

    @Test func theTopologyFileChoosesTheProvider() throws {
        #expect(try placement(Self.groups) == nil)
        #expect(try placement("provider: local\n" + Self.groups) == nil)
        let settings = try placement("""
            provider: kubernetes
            kubernetes: {namespace: serving, image: "tessera:1", image_pull_policy: Never, model_host_path: /models/m, name_prefix: t}
            """ + "\n" + Self.groups)
        #expect(settings == KubernetesSettings(namespace: "serving", image: "tessera:1", imagePullPolicy: "Never",
                                               modelHostPath: "/models/m", namePrefix: "t"))
        #expect(throws: FrontEndError.self) { try placement("provider: kubernetes\n" + Self.groups) }
        #expect(throws: FrontEndError.self) { try placement("provider: nomad\n" + Self.groups) }
    }

    func spec(role: InstanceRole, group: ModalityGroup, frontEnd: String) -> InstanceSpec {
        InstanceSpec(slot: 3, role: role, group: group, arguments: [
            "worker", "--role", role.rawValue, "--slot", "3", "--model", "/models/m", "--front-end", frontEnd,
            "--transfer", "tcp:127.0.0.1:0", "--heartbeat-interval-ms", "200", "--no-shared-memory", "--threads", "2",
        ])
    }

    @Test func podsRegisterWithoutASlotAndServeKVOnTheirAddress() throws {
        let arguments = try KubernetesInstanceProvider.podArguments(spec(role: .decode, group: .multimodal, frontEnd: "tcp:10.0.0.5:7000"))
        #expect(arguments == [
            "worker", "--role", "decode", "--group", "multimodal", "--model", "/models/m", "--front-end", "tcp:10.0.0.5:7000",
            "--transfer", "tcp:$(TESSERA_POD_IP):7100", "--heartbeat-interval-ms", "200", "--no-shared-memory", "--threads", "2",
        ])
        // Pods cannot reach the front end's loopback or Unix-socket control endpoint.
        for frontEnd in ["tcp:127.0.0.1:7000", "unix:/tmp/control.sock"] {
            #expect(throws: FrontEndError.self) { try KubernetesInstanceProvider.podArguments(spec(role: .decode, group: .text, frontEnd: frontEnd)) }
        }
    }

    @Test func onePoolDeploymentPerGroupAndRoleWithTheLiveRoleOutsideTheSelector() throws {
        let client = try KubernetesClient(KubernetesConfig(server: "https://127.0.0.1:9", namespace: "from-config",
                                                           credentials: .bearerToken("t"), certificateAuthority: nil))
        let provider = KubernetesInstanceProvider(settings: KubernetesSettings(image: "tessera:local", modelHostPath: "/models/m"), client: client)
        #expect(provider.namespace == "from-config")
        let name = provider.poolName(group: .multimodal, role: .encode)
        #expect(name == "tessera-multimodal-encode")
        let deployment = try provider.deployment(for: spec(role: .encode, group: .multimodal, frontEnd: "tcp:10.0.0.5:7000"), name: name)
        #expect(deployment.metadata.name == name && deployment.metadata.namespace == "from-config")
        #expect(deployment.spec.replicas == 0)
        let selector = deployment.spec.selector.matchLabels
        #expect(selector == ["app.kubernetes.io/name": "tessera", "app.kubernetes.io/component": "worker",
                             "tessera.ai/group": "multimodal", "tessera.ai/pool": "encode"])
        let labels = deployment.spec.template.metadata.labels ?? [:]
        #expect(deployment.spec.selector.matches(labels))
        #expect(labels["tessera.ai/role"] == "encode" && selector["tessera.ai/role"] == nil)
        guard case let .object(pod) = deployment.spec.template.spec, case let .array(containers)? = pod["containers"],
              case let .object(container)? = containers.first else {
            Issue.record("no container in \(deployment.spec.template.spec)")
            return
        }
        #expect(container["image"] == "tessera:local")
        #expect(container["env"] == [
            ["name": "TESSERA_POD_NAME", "valueFrom": ["fieldRef": ["fieldPath": "metadata.name"]]],
            ["name": "TESSERA_POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]],
            ["name": "TESSERA_WORKER_SECRET", "valueFrom": ["secretKeyRef": ["name": "tessera-worker-secret", "key": "secret"]]],
        ])
        #expect(container["volumeMounts"] == [["name": "models", "mountPath": "/models/m", "readOnly": true]])
        #expect(pod["volumes"] == [["name": "models", "hostPath": ["path": "/models/m", "type": "Directory"]]])
    }

    @Test func theExternalModeAdoptsPodsItDidNotAskFor() throws {
        let external = try #require(try placement("""
            provider: kubernetes
            kubernetes: {image: "tessera:1", autoscaling: external, leader_lease: tessera-front-end}
            """ + "\n" + Self.groups))
        #expect(external.autoscaling == .external && external.leaderLease == "tessera-front-end")
        #expect(throws: FrontEndError.self) { try placement("provider: kubernetes\nkubernetes: {image: t, autoscaling: keda}\n" + Self.groups) }
        #expect(throws: FrontEndError.self) { try placement("provider: kubernetes\nkubernetes: {image: t, autoscale: external}\n" + Self.groups) }
        let client = try KubernetesClient(KubernetesConfig(server: "https://127.0.0.1:9", namespace: "serving",
                                                           credentials: .bearerToken("t"), certificateAuthority: nil))
        let provider = KubernetesInstanceProvider(settings: external, client: client)
        #expect(provider.scaledExternally)
        let handle = try #require(provider.adopt(pod: "tessera-text-decode-7c9d-x2", role: .decode, group: .text))
        #expect(provider.pod(of: handle) == "tessera-text-decode-7c9d-x2")
        #expect(handle.id.hasPrefix("tessera-text-decode#"))
        // In the tessera mode a worker no start asked for is turned away.
        let owned = KubernetesInstanceProvider(settings: KubernetesSettings(image: "tessera:1"), client: client)
        #expect(!owned.scaledExternally)
        #expect(owned.adopt(pod: "p", role: .decode, group: .text) == nil)
    }
}
