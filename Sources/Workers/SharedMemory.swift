#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import WireProtocol

/// POSIX shared memory for KV bytes between processes on one host: the sender creates a named
/// segment and writes it, the receiver maps it read-only, and the name is unlinked once the
/// receiver confirms (the mapping stays valid until unmapped).
enum SharedMemory {
    /// Creates `name` with `byteCount` bytes, lets `fill` write it, and unmaps it again.
    static func create(name: String, byteCount: Int, fill: (UnsafeMutableRawPointer) -> Bool) throws(TransportError) -> Bool {
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        guard fd >= 0 else { throw .sharedMemory("shm_open \(name): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(byteCount)) == 0 else {
            shm_unlink(name)
            throw .sharedMemory("ftruncate \(name) to \(byteCount) bytes: \(String(cString: strerror(errno)))")
        }
        guard let base = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            shm_unlink(name)
            throw .sharedMemory("mmap \(name): \(String(cString: strerror(errno)))")
        }
        defer { munmap(base, byteCount) }
        return fill(base)
    }

    /// Maps `name` read-only; the caller unmaps with `munmap(base, byteCount)`.
    static func map(name: String, byteCount: Int) throws(TransportError) -> UnsafeRawPointer {
        let fd = shm_open(name, O_RDONLY, 0)
        guard fd >= 0 else { throw .sharedMemory("shm_open \(name): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) >= byteCount else {
            throw .sharedMemory("\(name) holds fewer than the announced \(byteCount) bytes")
        }
        guard let base = mmap(nil, byteCount, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw .sharedMemory("mmap \(name): \(String(cString: strerror(errno)))")
        }
        return UnsafeRawPointer(base)
    }

    static func unlink(name: String) { shm_unlink(name) }
}
