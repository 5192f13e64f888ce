import Foundation
@testable import KubernetesClient
import Testing

@Suite struct ConfigTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func inClusterReadsTheServiceAccountFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "token-abc\n".write(to: dir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        try "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".write(
            to: dir.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        try "tessera\n".write(to: dir.appendingPathComponent("namespace"), atomically: true, encoding: .utf8)
        let config = try KubernetesConfig.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountDirectory: dir.path)
        #expect(config.server == "https://10.96.0.1:443")
        #expect(config.namespace == "tessera")
        #expect(config.credentials == .bearerToken("token-abc"))
        #expect(config.certificateAuthority.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("-----BEGIN CERTIFICATE") == true)

        let v6 = try KubernetesConfig.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"], serviceAccountDirectory: dir.path)
        #expect(v6.server == "https://[fd00::1]:443")
        #expect(throws: KubernetesError.self) { try KubernetesConfig.inCluster(environment: [:], serviceAccountDirectory: dir.path) }
        #expect(throws: KubernetesError.self) {
            try KubernetesConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                           serviceAccountDirectory: dir.path + "/missing")
        }
    }

    @Test func kubeconfigPicksTheCurrentContextsClusterAndUser() throws {
        let yaml = """
        apiVersion: v1
        kind: Config
        current-context: b
        clusters:
        - name: one
          cluster: {server: "https://10.0.0.1:6443/", certificate-authority-data: \(Data("CA-ONE".utf8).base64EncodedString())}
        - name: two
          cluster: {server: "https://10.0.0.2:6443"}
        users:
        - name: token-user
          user: {token: secret}
        - name: cert-user
          user:
            client-certificate-data: \(Data("CERT".utf8).base64EncodedString())
            client-key-data: \(Data("KEY".utf8).base64EncodedString())
        contexts:
        - name: a
          context: {cluster: one, user: token-user}
        - name: b
          context: {cluster: two, user: cert-user, namespace: serving}
        """
        let current = try KubernetesConfig.kubeconfig(yaml: yaml)
        #expect(current.server == "https://10.0.0.2:6443")
        #expect(current.namespace == "serving")
        #expect(current.credentials == .clientCertificate(certificate: Array("CERT".utf8), key: Array("KEY".utf8)))
        #expect(current.certificateAuthority == nil)

        let named = try KubernetesConfig.kubeconfig(yaml: yaml, context: "a")
        #expect(named.server == "https://10.0.0.1:6443")
        #expect(named.namespace == "default")
        #expect(named.credentials == .bearerToken("secret"))
        #expect(named.certificateAuthority == Array("CA-ONE".utf8))

        #expect(throws: KubernetesError.self) { try KubernetesConfig.kubeconfig(yaml: yaml, context: "missing") }
        #expect(throws: KubernetesError.self) { try KubernetesConfig.kubeconfig(yaml: "clusters: []") }
    }

    @Test func kubeconfigFileReferencesResolveAgainstItsFolder() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "CA-FILE".write(to: dir.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
        try "file-token\n".write(to: dir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        let yaml = """
        current-context: c
        clusters: [{name: k, cluster: {server: "https://127.0.0.1:6443", certificate-authority: ca.pem}}]
        users: [{name: u, user: {tokenFile: token}}]
        contexts: [{name: c, context: {cluster: k, user: u}}]
        """
        try yaml.write(to: dir.appendingPathComponent("config"), atomically: true, encoding: .utf8)
        let config = try KubernetesConfig.kubeconfig(path: dir.appendingPathComponent("config").path)
        #expect(config.certificateAuthority == Array("CA-FILE".utf8))
        #expect(config.credentials == .bearerToken("file-token"))
        // KUBECONFIG names the file when not in a pod.
        let loaded = try KubernetesConfig.load(environment: ["KUBECONFIG": dir.appendingPathComponent("config").path + ":/other"])
        #expect(loaded == config)
    }
}
