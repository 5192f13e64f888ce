import Foundation

/// One line of a watch stream: `{"type": "ADDED", "object": {...}}`. `ERROR` events carry a
/// ``Status`` instead of the object (410 when the resource version is too old).
public enum WatchEvent<Object: Decodable & Sendable>: Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    /// Progress marker: only the resource version is meaningful.
    case bookmark(resourceVersion: String)
    case error(Status)

    private struct Envelope<Body: Decodable>: Decodable {
        var type: String
        var object: Body
    }

    private struct BookmarkObject: Decodable {
        var metadata: ListMeta
    }

    /// Decodes one line of the stream.
    public static func decode(_ line: some Collection<UInt8>) throws(KubernetesError) -> WatchEvent {
        let data = Data(line)
        do {
            let type = try JSONDecoder().decode(Envelope<IgnoredBody>.self, from: data).type
            switch type {
            case "ADDED": return .added(try JSONDecoder().decode(Envelope<Object>.self, from: data).object)
            case "MODIFIED": return .modified(try JSONDecoder().decode(Envelope<Object>.self, from: data).object)
            case "DELETED": return .deleted(try JSONDecoder().decode(Envelope<Object>.self, from: data).object)
            case "BOOKMARK":
                let meta = try JSONDecoder().decode(Envelope<BookmarkObject>.self, from: data).object.metadata
                return .bookmark(resourceVersion: meta.resourceVersion ?? "")
            case "ERROR": return .error(try JSONDecoder().decode(Envelope<Status>.self, from: data).object)
            default: throw KubernetesError.malformed("unknown watch event type \(type)")
            }
        } catch let error as KubernetesError {
            throw error
        } catch {
            throw .malformed("watch event: \(error)")
        }
    }

    private struct IgnoredBody: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}
