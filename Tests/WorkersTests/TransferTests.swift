import CoreUtilities
import Engine
import Foundation
import Imaging
import ServingAPI
import TestFixtures
import Testing
import WireProtocol
@testable import Workers

/// Pulls between a prefill engine's transfers and a client, over shared memory and over TCP.
@Suite(.serialized) struct TransferTests {
    /// This process's shared-memory segments of one kind (`tessera-kv-` or `tessera-fe-`).
    static func sharedMemorySegments(_ kind: String = "tessera-kv-") -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter { $0.hasPrefix("\(kind)\(getpid())-") })
    }

    /// Prefills the llama-gqa reference's second prompt on `engine`, announces the parked KV on
    /// `server`, and returns it with its handle and a copy of the bytes a transfer must deliver.
    static func parkReferencePrompt(on engine: LLMEngine, announcingOn server: TransferServer) async throws
        -> (prompt: [Int], handle: Int, expected: KVBuffer)
    {
        let prompt = try Fixtures.reference("llama-gqa").prompts[1].prompt_token_ids
        let (handle, events) = try engine.submitPrefill(prompt: prompt)
        _ = try await Fixtures.collect(events)
        server.announce(handle)
        return (prompt, handle, Fixtures.parkedKV(handle, positions: prompt.count, of: engine, release: false))
    }

    @Test(arguments: [true, false])
    func pullMovesTheParkedBytesAndFreesTheSender(sharedMemory: Bool) async throws {
        let prefill = try Fixtures.engine("llama-gqa")
        let endpoint: Endpoint = sharedMemory ? .unix(path: TransportTests.socketPath("kv")) : .tcp(host: "127.0.0.1", port: 0)
        let sent = TransferCounters(), received = TransferCounters()
        let transfers = TransferServer(engine: prefill, listener: try Listener(endpoint: endpoint), counters: sent, parkedTimeout: 60)
        transfers.start()
        let client = TransferClient(counters: received, useSharedMemory: true)
        defer {
            transfers.close()
            client.closeAll()
        }
        let (prompt, handle, expected) = try await Self.parkReferencePrompt(on: prefill, announcingOn: transfers)
        let bytes = expected.byteCount

        let kv = try client.pull(KVSource(endpoint: try #require(endpointOf(transfers, endpoint)), handle: handle), expecting: prefill.kvLayout)
        #expect(kv.positions == 0 ..< prompt.count)
        #expect(kv.byteCount == bytes)
        #expect(memcmp(kv.base, expected.base, bytes) == 0)
        #expect(received.snapshot.bytesReceived == bytes && received.snapshot.transfers == 1)
        #expect(await Fixtures.eventually { sent.snapshot.bytesSent == bytes })
        // The confirmation frees the parked blocks and removes the segment's name.
        #expect(await Fixtures.eventually { prefill.parkedCount == 0 && Self.sharedMemorySegments().isEmpty })
        #expect(throws: TransportError.self) { try client.pull(KVSource(endpoint: endpointOf(transfers, endpoint)!, handle: handle), expecting: prefill.kvLayout) }
        await prefill.shutdown(gracePeriod: .zero)
    }

    /// KV nobody confirms is freed after the timeout.
    @Test func unconfirmedKVExpires() async throws {
        let prefill = try Fixtures.engine("llama-gqa")
        let transfers = TransferServer(engine: prefill, listener: try Listener(endpoint: .unix(path: TransportTests.socketPath("expire"))),
                                  counters: TransferCounters(), parkedTimeout: 0.05)
        defer { transfers.close() }
        let (handle, events) = try prefill.submitPrefill(prompt: [1, 2, 3, 4, 5])
        _ = try await Fixtures.collect(events)
        transfers.announce(handle)
        transfers.expire()
        #expect(prefill.parkedCount == 1)
        try await Task.sleep(for: .milliseconds(100))
        transfers.expire()
        #expect(await Fixtures.eventually { prefill.parkedCount == 0 })
        await prefill.shutdown(gracePeriod: .zero)
    }

    /// Push hand-off: the prefill side sends a parked KV unasked; the decode side holds exactly
    /// those bytes until its job takes them, and its confirmation frees the sender's copy.
    @Test(arguments: [true, false])
    func pushDeliversTheParkedBytesAndFreesTheSender(sharedMemory: Bool) async throws {
        let prefill = try Fixtures.engine("llama-gqa")
        let decode = try Fixtures.engine("llama-gqa")
        let endpoints: [Endpoint] = sharedMemory
            ? [.unix(path: TransportTests.socketPath("push-p")), .unix(path: TransportTests.socketPath("push-d"))]
            : [.tcp(host: "127.0.0.1", port: 0), .tcp(host: "127.0.0.1", port: 0)]
        let sent = TransferCounters(), received = TransferCounters()
        let sender = TransferServer(engine: prefill, listener: try Listener(endpoint: endpoints[0]), counters: sent, parkedTimeout: 60)
        let receiver = TransferServer(engine: decode, listener: try Listener(endpoint: endpoints[1]), counters: received, parkedTimeout: 60)
        sender.start()
        receiver.start()
        let client = TransferClient(counters: sent, useSharedMemory: true)
        defer {
            sender.close()
            receiver.close()
            client.closeAll()
        }
        let (prompt, handle, expected) = try await Self.parkReferencePrompt(on: prefill, announcingOn: sender)
        let bytes = expected.byteCount

        let source = KVSource(endpoint: sender.endpoint, handle: handle)
        // Nothing was pushed yet: the wait ends empty-handed.
        #expect(await receiver.takePushed(source, timeout: .milliseconds(50)) == nil)
        sender.push(handle, to: receiver.endpoint, via: client)
        let kv = try #require(await receiver.takePushed(source, timeout: .seconds(10)))
        #expect(kv.positions == 0 ..< prompt.count && kv.byteCount == bytes)
        #expect(memcmp(kv.base, expected.base, bytes) == 0)
        #expect(received.snapshot.bytesReceived == bytes && received.snapshot.transfers == 1)
        #expect(await Fixtures.eventually { sent.snapshot.bytesSent == bytes })
        #expect(await Fixtures.eventually { prefill.parkedCount == 0 && Self.sharedMemorySegments().isEmpty })
        // Taken once: a second take finds nothing.
        #expect(await receiver.takePushed(source, timeout: .milliseconds(10)) == nil)
        await prefill.shutdown(gracePeriod: .zero)
        await decode.shutdown(gracePeriod: .zero)
    }

    private func endpointOf(_ transfers: TransferServer, _ requested: Endpoint) -> Endpoint? { transfers.endpoint }
}

/// E→P: an encode engine's features pulled by a prefill worker, then unpinned on the encode side.
@Suite(.serialized) struct FeatureTransferTests {
    @Test(arguments: [true, false])
    func pulledFeaturesEqualTheEncodedOnesAndAreUnpinned(sharedMemory: Bool) async throws {
        let encoder = try Fixtures.engine("llava-tiny", blockSize: 4)
        let store = FeatureStore(engine: encoder, timeout: 60)
        let endpoint: Endpoint = sharedMemory ? .unix(path: TransportTests.socketPath("features")) : .tcp(host: "127.0.0.1", port: 0)
        let server = TransferServer(engine: encoder, listener: try Listener(endpoint: endpoint), counters: TransferCounters(),
                                    parkedTimeout: 60, features: store)
        server.start()
        let client = TransferClient(counters: TransferCounters(), useSharedMemory: true)
        defer {
            server.close()
            client.closeAll()
        }
        let folder = Fixtures.root.deletingLastPathComponent().appendingPathComponent("images/good")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().first { $0.hasSuffix(".png") })
        let image = try ImageDecoder.decode(contentsOf: folder.appendingPathComponent(name))
        let encoded = try await encoder.encodeImages([image, image]).images
        #expect(encoded.count == 2 && encoded[0] == encoded[1] && encoded[0].rows > 0)
        store.hold(encoded)
        let ids = encoded.map(\.imageID)
        let pulled = try client.pullFeatures(FeatureSource(endpoint: server.endpoint, imageIDs: [ids[0]]))
        #expect(pulled == [encoded[0]])
        // Two uses were held; one confirmation leaves one.
        #expect(await Fixtures.eventually { store.count == 1 })
        _ = try client.pullFeatures(FeatureSource(endpoint: server.endpoint, imageIDs: [ids[1]]))
        #expect(await Fixtures.eventually { store.count == 0 })
        #expect(throws: TransportError.self) { try client.pullFeatures(FeatureSource(endpoint: server.endpoint, imageIDs: [ImageID(number: 7)])) }
        #expect(TransferTests.sharedMemorySegments("tessera-fe-").isEmpty)
        await encoder.shutdown(gracePeriod: .zero)
    }
}

