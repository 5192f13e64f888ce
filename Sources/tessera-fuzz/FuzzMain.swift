import Foundation
import FuzzTargets

/// `tessera-fuzz TARGET [libFuzzer options] [corpus folders or files]`, or `tessera-fuzz TARGET
/// --seeds` for the fixture files that seed the target's corpus.
///
/// Built with `-sanitize=fuzzer,address -D FUZZING` (`tests/fuzz/run.sh`), it is libFuzzer's
/// driver for the named ``FuzzTarget``; built plainly, it runs the given files through the target
/// once each (a crashing input replayed without the sanitizers). The fixtures are read from
/// `TESSERA_FUZZ_FIXTURES`, by default `fixtures` in the current folder.
@main enum FuzzMain {
    static func main() {
        let fixtures = URL(fileURLWithPath: ProcessInfo.processInfo.environment["TESSERA_FUZZ_FIXTURES"] ?? "fixtures")
        let targets = FuzzTarget.all(fixtures: fixtures)
        var arguments = CommandLine.arguments
        guard arguments.count > 1, let target = targets.first(where: { $0.name == arguments[1] }) else {
            FileHandle.standardError.write(Data("usage: tessera-fuzz TARGET [options] [files]; targets: \(targets.map(\.name).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        arguments.remove(at: 1)
        if arguments.dropFirst().first == "--seeds" {
            print(target.seeds.map(\.path).joined(separator: ","))
            return
        }
        #if FUZZING
        selected = target
        exit(runLibFuzzer(arguments))
        #else
        for path in arguments.dropFirst() where !path.hasPrefix("-") {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            target.run(Array(data))
            print("\(target.name): \(path) ok")
        }
        #endif
    }
}

#if FUZZING
nonisolated(unsafe) private var selected: FuzzTarget?

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// libFuzzer's entry point (its own `main` calls it when it is linked in instead of ours).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected?.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

private func runLibFuzzer(_ arguments: [String]) -> CInt {
    var argc = CInt(arguments.count)
    var pointers = arguments.map { strdup($0) } + [nil]
    return pointers.withUnsafeMutableBufferPointer { argv in
        var base = argv.baseAddress!
        return LLVMFuzzerRunDriver(&argc, &base, fuzzOneInput)
    }
}
#endif
