import Foundation
@testable import KubernetesClient
import Testing

@Suite struct WatchTests {
    private func events() throws -> [WatchEvent<Pod>] {
        var lines = JSONLines()
        var out: [[UInt8]] = []
        // Feed the recorded stream in 97-byte chunks: events are cut mid-line, as HTTP chunks cut them.
        let bytes = Array(try recorded("pod-watch.jsonl"))
        for start in stride(from: 0, to: bytes.count, by: 97) {
            out += lines.append(bytes[start..<min(start + 97, bytes.count)])
        }
        return try out.map { try WatchEvent<Pod>.decode($0) }
    }

    @Test func linesSurviveArbitraryChunking() throws {
        let decoded = try events()
        #expect(decoded.count == 6)
        guard case let .added(pod) = decoded[0], case let .bookmark(version) = decoded[3],
              case let .deleted(gone) = decoded[4], case let .error(status) = decoded[5] else {
            Issue.record("unexpected event kinds \(decoded)")
            return
        }
        #expect(pod.name == "tessera-text-decode-5d9c8b7f6-klmno")
        #expect(version == "1061")
        #expect(gone.metadata.deletionTimestamp != nil)
        #expect(status.code == 410)
    }

    @Test func unknownEventTypeIsMalformed() {
        #expect(throws: KubernetesError.self) { try WatchEvent<Pod>.decode(Array(#"{"type":"RENAMED","object":{}}"#.utf8)) }
        #expect(throws: KubernetesError.self) { try WatchEvent<Pod>.decode(Array("not json".utf8)) }
    }

    @Test func cacheFollowsListThenWatch() throws {
        var cache = PodCache()
        #expect(cache.resourceVersion == nil)
        let list = try JSONDecoder().decode(PodList.self, from: recorded("pod-list.json"))
        let initial = cache.replace(with: list)
        #expect(initial.count == 2)
        #expect(cache.resourceVersion == "1042")

        let stream = try events()
        // ADDED: a new pending pod.
        #expect(try cache.apply(stream[0]) == .changes([.updated(cache.pods["tessera-text-decode-5d9c8b7f6-klmno"]!)]))
        #expect(cache.resourceVersion == "1050")
        // MODIFIED: scheduled, running and ready.
        guard case let .changes(changes) = try cache.apply(stream[1]), case let .updated(ready) = changes.first else {
            Issue.record("no update for the ready pod"); return
        }
        #expect(ready.isReady && ready.status?.podIP == "10.78.2.7" && ready.spec?.nodeName == "node-b")
        // MODIFIED with nothing but a new resource version: no change reported, version moves.
        #expect(try cache.apply(stream[2]) == .changes([]))
        #expect(cache.resourceVersion == "1055")
        // BOOKMARK: version only.
        #expect(try cache.apply(stream[3]) == .changes([]))
        #expect(cache.resourceVersion == "1061")
        #expect(cache.pods.count == 3)
        // DELETED.
        guard case let .changes(removed) = try cache.apply(stream[4]), case .removed = removed.first else {
            Issue.record("no removal"); return
        }
        #expect(cache.pods["tessera-text-decode-5d9c8b7f6-abcde"] == nil)
        // ERROR 410: list again, from no version.
        #expect(try cache.apply(stream[5]) == .relist)
        #expect(cache.resourceVersion == nil)
    }

    @Test func relistReportsWhatChangedWhileNotWatching() throws {
        var cache = PodCache()
        let list = try JSONDecoder().decode(PodList.self, from: recorded("pod-list.json"))
        _ = cache.replace(with: list)
        var later = list
        later.metadata.resourceVersion = "2000"
        later.items.removeFirst()
        later.items[0].status?.phase = "Running"
        let changes = cache.replace(with: later)
        #expect(changes.count == 2)
        #expect(changes.contains { if case let .removed(pod) = $0 { pod.name.hasSuffix("abcde") } else { false } })
        #expect(changes.contains { if case let .updated(pod) = $0 { pod.status?.phase == "Running" } else { false } })
        #expect(cache.replace(with: later).isEmpty)
    }

    @Test func otherWatchErrorsAreThrown() throws {
        var cache = PodCache()
        #expect(throws: KubernetesError.api(Status(code: 500, reason: "InternalError", message: "boom"))) {
            try cache.apply(.error(Status(code: 500, reason: "InternalError", message: "boom")))
        }
    }
}
