import Dispatch
import Simulator

/// Times same-host copies of KV or feature bytes (`memcpy` between two resident buffers), the
/// transfer cost of two instances on one machine sharing memory.
public enum CopyProfiler {
    public static func measure(sizes: [Int], runs: Int) -> [CostModel.Measurements.Transfer] {
        let largest = sizes.max() ?? 0
        guard largest > 0, runs > 0 else { return [] }
        let source = UnsafeMutableRawPointer.allocate(byteCount: largest, alignment: 64)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: largest, alignment: 64)
        defer {
            source.deallocate()
            destination.deallocate()
        }
        // Touch every page first so the timings see copies, not page faults.
        source.initializeMemory(as: UInt8.self, repeating: 1, count: largest)
        destination.initializeMemory(as: UInt8.self, repeating: 0, count: largest)
        return sizes.sorted().map { size in
            destination.copyMemory(from: source, byteCount: size)
            let times = (0 ..< runs).map { _ in
                let start = DispatchTime.now().uptimeNanoseconds
                destination.copyMemory(from: source, byteCount: size)
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }
            return .init(bytes: size, ms: ProfileStatistics.median(times))
        }
    }
}
