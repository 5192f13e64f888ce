#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Workers as child processes of the front end, running `executable worker …`.
///
/// ```swift
/// let provider = LocalProcessProvider(executable: URL(fileURLWithPath: CommandLine.arguments[0]))
/// ```
public final class LocalProcessProvider: InstanceProvider {
    public let executable: URL
    /// Where each worker's standard error goes; nil inherits the front end's.
    public let logDirectory: URL?
    private let processes = Mutex<[String: Process]>([:])
    private let counter = Atomic<Int>(0)

    public init(executable: URL, logDirectory: URL? = nil) {
        self.executable = executable
        self.logDirectory = logDirectory
    }

    public func start(_ instance: InstanceSpec) throws(FrontEndError) -> InstanceHandle {
        let process = Process()
        if instance.launcher.isEmpty {
            process.executableURL = executable
            process.arguments = instance.arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = instance.launcher + [executable.path] + instance.arguments
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        if let logDirectory {
            let log = logDirectory.appendingPathComponent("worker-\(instance.slot)\(instance.stage.map { "-stage\($0)" } ?? "").log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            if let handle = try? FileHandle(forWritingTo: log) {
                handle.seekToEndOfFile()
                process.standardError = handle
            }
        }
        let id = "local-\(instance.slot)\(instance.stage.map { "-stage\($0)" } ?? "")-\(counter.add(1, ordering: .relaxed).newValue)"
        // Foundation reaps the child on its own monitoring thread; forgetting it there means no
        // caller ever waits for an exit.
        process.terminationHandler = { [weak self] _ in self?.processes.withLock { _ = $0.removeValue(forKey: id) } }
        processes.withLock { $0[id] = process }
        do { try process.run() } catch {
            processes.withLock { _ = $0.removeValue(forKey: id) }
            throw .launchFailed("\(executable.path): \(error.localizedDescription)")
        }
        return InstanceHandle(id: id, processId: process.processIdentifier)
    }

    /// Signals the process and returns without waiting: the exit is reaped in the background, and
    /// ``isAlive(_:)`` turns false once it is.
    public func stop(_ handle: InstanceHandle, force: Bool) {
        guard let process = processes.withLock({ $0[handle.id] }), process.isRunning else { return }
        kill(process.processIdentifier, force ? SIGKILL : SIGTERM)
    }

    public func isAlive(_ handle: InstanceHandle) -> Bool {
        processes.withLock { $0[handle.id] }?.isRunning ?? false
    }
}
