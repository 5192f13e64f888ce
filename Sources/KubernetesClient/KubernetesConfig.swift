import Foundation
import Yams

/// Where the API server is and how to authenticate to it: from inside a pod (service-account
/// token and CA) or from a kubeconfig (bearer token or client certificate, CA data or file).
///
/// ```swift
/// let config = try KubernetesConfig.load()   // in-cluster, else $KUBECONFIG, else ~/.kube/config
/// let client = try KubernetesClient(config)
/// ```
public struct KubernetesConfig: Sendable, Hashable {
    /// `https://host:port`, no trailing slash.
    public var server: String
    /// The namespace objects live in when a call names none.
    public var namespace: String
    public var credentials: Credentials
    /// PEM certificates the server's certificate must chain to; nil trusts the system roots.
    public var certificateAuthority: [UInt8]?

    public enum Credentials: Sendable, Hashable {
        case none
        case bearerToken(String)
        /// PEM client certificate and key.
        case clientCertificate(certificate: [UInt8], key: [UInt8])
    }

    public init(server: String, namespace: String = "default", credentials: Credentials, certificateAuthority: [UInt8]?) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.namespace = namespace
        self.credentials = credentials
        self.certificateAuthority = certificateAuthority
    }

    /// The in-cluster config when running in a pod, otherwise the kubeconfig named by `KUBECONFIG`
    /// (its first file) or `~/.kube/config`.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws(KubernetesError) -> KubernetesConfig {
        if environment["KUBERNETES_SERVICE_HOST"] != nil { return try inCluster(environment: environment) }
        let path = environment["KUBECONFIG"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.kube/config"
        return try kubeconfig(path: path)
    }

    /// From a pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, and the token, CA and
    /// namespace files Kubernetes mounts under `serviceAccountDirectory`.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws(KubernetesError) -> KubernetesConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw .configuration("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: not running in a pod")
        }
        let token = try readFile(serviceAccountDirectory + "/token")
        let ca = try readFile(serviceAccountDirectory + "/ca.crt")
        let namespace = (try? readFile(serviceAccountDirectory + "/namespace")).map {
            String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // An IPv6 service address needs brackets in a URL.
        let authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return KubernetesConfig(
            server: "https://\(authority)", namespace: namespace ?? "default",
            credentials: .bearerToken(String(decoding: token, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            certificateAuthority: ca)
    }

    /// Reads a kubeconfig file; relative file references resolve against its folder.
    public static func kubeconfig(path: String, context: String? = nil) throws(KubernetesError) -> KubernetesConfig {
        let text = String(decoding: try readFile(path), as: UTF8.self)
        return try kubeconfig(yaml: text, context: context, baseDirectory: (path as NSString).deletingLastPathComponent)
    }

    /// Parses a kubeconfig: the named (or current) context's cluster, user and namespace.
    public static func kubeconfig(yaml: String, context: String? = nil, baseDirectory: String = ".") throws(KubernetesError) -> KubernetesConfig {
        let file: KubeconfigFile
        do { file = try YAMLDecoder().decode(KubeconfigFile.self, from: yaml) } catch {
            throw .configuration("kubeconfig does not parse: \(error)")
        }
        guard let contextName = context ?? file.currentContext else { throw .configuration("kubeconfig names no current-context") }
        guard let ctx = file.contexts?.first(where: { $0.name == contextName })?.context else {
            throw .configuration("kubeconfig has no context \(contextName)")
        }
        guard let cluster = file.clusters?.first(where: { $0.name == ctx.cluster })?.cluster else {
            throw .configuration("kubeconfig has no cluster \(ctx.cluster)")
        }
        let user = ctx.user.flatMap { name in file.users?.first(where: { $0.name == name })?.user }
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : baseDirectory + "/" + path }
        func material(data: String?, file: String?) throws(KubernetesError) -> [UInt8]? {
            if let data {
                guard let bytes = Data(base64Encoded: data, options: .ignoreUnknownCharacters) else {
                    throw .configuration("kubeconfig has invalid base64 data")
                }
                return Array(bytes)
            }
            return try file.map { (path) throws(KubernetesError) in try readFile(resolve(path)) }
        }
        let credentials: Credentials
        if let token = user?.token {
            credentials = .bearerToken(token)
        } else if let path = user?.tokenFile {
            credentials = .bearerToken(String(decoding: try readFile(resolve(path)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        } else if let certificate = try material(data: user?.clientCertificateData, file: user?.clientCertificate),
                  let key = try material(data: user?.clientKeyData, file: user?.clientKey) {
            credentials = .clientCertificate(certificate: certificate, key: key)
        } else {
            credentials = .none
        }
        return KubernetesConfig(
            server: cluster.server, namespace: ctx.namespace ?? "default", credentials: credentials,
            certificateAuthority: try material(data: cluster.certificateAuthorityData, file: cluster.certificateAuthority))
    }

    private static func readFile(_ path: String) throws(KubernetesError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw .configuration("cannot read \(path)") }
        return Array(data)
    }
}

/// The fields of a kubeconfig file that ``KubernetesConfig`` uses.
private struct KubeconfigFile: Decodable {
    struct Named<Value: Decodable>: Decodable {
        var name: String
        var value: Value?
        enum CodingKeys: String, CodingKey { case name, cluster, user, context }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            value = try container.decodeIfPresent(Value.self, forKey: .cluster)
                ?? container.decodeIfPresent(Value.self, forKey: .user)
                ?? container.decodeIfPresent(Value.self, forKey: .context)
        }
    }
    struct Cluster: Decodable {
        var server: String
        var certificateAuthorityData: String?
        var certificateAuthority: String?
        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthorityData = "certificate-authority-data"
            case certificateAuthority = "certificate-authority"
        }
    }
    struct User: Decodable {
        var token: String?
        var tokenFile: String?
        var clientCertificateData: String?
        var clientCertificate: String?
        var clientKeyData: String?
        var clientKey: String?
        enum CodingKeys: String, CodingKey {
            case token, tokenFile
            case clientCertificateData = "client-certificate-data"
            case clientCertificate = "client-certificate"
            case clientKeyData = "client-key-data"
            case clientKey = "client-key"
        }
    }
    struct Context: Decodable {
        var cluster: String
        var user: String?
        var namespace: String?
    }

    var currentContext: String?
    var clusters: [Named<Cluster>]?
    var users: [Named<User>]?
    var contexts: [Named<Context>]?
    enum CodingKeys: String, CodingKey {
        case currentContext = "current-context"
        case clusters, users, contexts
    }
}

extension KubeconfigFile.Named where Value == KubeconfigFile.Cluster { var cluster: Value? { value } }
extension KubeconfigFile.Named where Value == KubeconfigFile.User { var user: Value? { value } }
extension KubeconfigFile.Named where Value == KubeconfigFile.Context { var context: Value? { value } }
