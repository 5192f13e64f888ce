import Cluster
import Foundation
import FrontEnd
import Testing

@Suite struct TopologyTests {
    func load(_ text: String, ext: String = "yaml") throws(FrontEndError) -> Topology {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("topology-\(UUID().uuidString).\(ext)")
        try? text.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        return try Topology(contentsOf: url)
    }

    @Test func yamlAndJSONGiveTheSameTopology() throws {
        let yaml = try load("""
            transfer: tcp
            kv_handoff: push
            router: least-loaded
            heartbeat_timeout_ms: 900
            groups:
              - group: text
                workers:
                  - {role: prefill, count: 1}
                  - {role: decode, count: 2, launcher: [ip, netns, exec, h2], transfer: "tcp:10.0.0.2:0"}
            """)
        let json = try load("""
            {"transfer": "tcp", "kv_handoff": "push", "router": "least-loaded", "heartbeat_timeout_ms": 900, "groups": [{"group": "text", "workers": [
              {"role": "prefill", "count": 1},
              {"role": "decode", "count": 2, "launcher": ["ip", "netns", "exec", "h2"], "transfer": "tcp:10.0.0.2:0"}]}]}
            """, ext: "json")
        #expect(yaml == json)
        #expect(yaml.slots.map(\.spec.role) == [.prefill, .decode, .decode])
        #expect(yaml.heartbeatIntervalMs == 200 && yaml.maxRetries == 2 && yaml.capacity == Topology.defaultCapacity)
        #expect(yaml.kvHandoff == .push)
        #expect(try load("groups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}").kvHandoff == .pull)
    }

    /// The policies are the simulator's: the same keys, names and defaults, checked against the catalog.
    @Test func policiesUseTheCatalogNamesAndDefaults() throws {
        let plain = try load("groups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}")
        #expect(plain.policies == PolicySpec())
        let tuned = try load("""
            router: modality
            encodeDispatcher: intra-request
            planners: [burst-tolerance, {name: role-switcher, interval: 1, cooldownRounds: 2}]
            groups:
              - group: multimodal
                workers:
                  - {role: encode, count: 2}
                  - {role: prefill, count: 1}
                  - {role: decode, count: 1}
            """)
        #expect(tuned.policies == PolicySpec(router: "modality", encodeDispatcher: "intra-request",
                                             planners: ["burst-tolerance", PlannerSpec("role-switcher", options: ["interval": 1, "cooldownRounds": 2])]))
        // Retired keys and names are errors that say what replaced them.
        for text in ["routing: modality", "elastic: {planner: elastic-partitioner, interval_seconds: 1}", "planners: [elastic-partitioner]",
                     "router: fastest", "planners: [{name: stage-autoscaler, speed: 2}]", "batcher: slo-odbs", "imageBatcher: by-lora"] {
            #expect(throws: FrontEndError.self) { try load(text + "\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}") }
        }
        // The batcher is the workers' batch policy.
        #expect(try load("batcher: slo-ordered\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}").policies.batcher == "slo-ordered")
        // The image batcher is the image workers' (`--image-batcher`), as a simulated system's `imageBatcher`.
        #expect(try load("imageBatcher: lora-homogeneous\ngroups:\n  - group: image\n    workers:\n      - {role: image, count: 1}").policies.imageBatcher
            == "lora-homogeneous")
        // The step-time target is the workers' (`--step-time-target-ms`), as a simulated system's `stepTimeTargetMs`, with its default.
        #expect(tuned.policies.stepTimeTargetMs == 50)
        #expect(try load("stepTimeTargetMs: 0\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}").policies.stepTimeTargetMs == 0)
        #expect(throws: FrontEndError.self) { try load("stepTimeTargetMs: -1\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}") }
        let retired = #expect(throws: FrontEndError.self) {
            try load("routing: modality\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}")
        }
        #expect(retired.map { "\($0)".contains("unknown key 'routing' (now `router`)") } == true)
        // Objectives come from the SLO classes requests name, as in the simulator, not from the topology.
        let slo = #expect(throws: FrontEndError.self) {
            try load("slo: {ttft: 0.5, tpot: 0.1}\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}")
        }
        #expect(slo.map { "\($0)".contains("--slo-class") } == true)
    }

    @Test func everyExampleTopologyLoads() throws {
        let folder = Support.repository.appendingPathComponent("examples/topologies")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".json") }
        #expect(files.count >= 7)
        for file in files { _ = try Topology(contentsOf: folder.appendingPathComponent(file)) }
    }

    @Test func badTopologiesAreTypedErrors() {
        let cases = [
            "groups: []",
            "groups:\n  - group: text\n    workers:\n      - {role: prefill, count: 1}",
            "groups:\n  - group: text\n    workers:\n      - {role: encode, count: 1}\n      - {role: mono, count: 1}",
            "groups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}\n  - group: text\n    workers:\n      - {role: mono, count: 1}",
            "heartbeat_interval_ms: 500\nheartbeat_timeout_ms: 100\ngroups:\n  - group: text\n    workers:\n      - {role: mono, count: 1}",
            "groups:\n  - group: pictures\n    workers:\n      - {role: mono, count: 1}",
            "groups: [",
            // A pipeline splits a mono worker over 2 or more stages with positive budgets, known keys only.
            "groups:\n  - group: text\n    workers:\n      - {role: prefill, count: 1, pipeline: [{memory_mib: 1}, {memory_mib: 1}]}\n      - {role: decode, count: 1}",
            "groups:\n  - group: text\n    workers:\n      - {role: mono, count: 1, pipeline: [{memory_mib: 1}]}",
            "groups:\n  - group: text\n    workers:\n      - {role: mono, count: 1, pipeline: [{memory_mib: 1}, {memory_mib: 0}]}",
            "groups:\n  - group: text\n    workers:\n      - {role: mono, count: 1, pipeline: [{memory_mib: 1}, {memory: 1}]}",
        ]
        for text in cases {
            #expect(throws: FrontEndError.self) { try load(text) }
        }
        #expect(throws: FrontEndError.self) { try Topology(contentsOf: URL(fileURLWithPath: "/nonexistent/topology.yaml")) }
    }
}
