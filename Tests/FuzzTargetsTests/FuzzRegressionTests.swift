import Foundation
import FuzzTargets
import Testing

/// Every input kept for a fuzz target runs through it again: the seed corpus and the crashing
/// inputs libFuzzer found (`tests/fuzz/regressions/TARGET/`, each fixed since), so a defect fixed
/// once stays fixed without the sanitizer build.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let targets = FuzzTarget.all(fixtures: root.appendingPathComponent("fixtures"))

    static func inputs(_ target: FuzzTarget, in folder: String) -> [URL] {
        let directory = root.appendingPathComponent("tests/fuzz").appendingPathComponent(folder).appendingPathComponent(target.name)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: targets.map(\.name)) func keptInputsRunCleanly(_ name: String) throws {
        let target = try #require(Self.targets.first { $0.name == name })
        let seeds = target.seeds + Self.inputs(target, in: "corpus")
        #expect(!seeds.isEmpty, "no seed inputs for \(name)")
        for file in seeds + Self.inputs(target, in: "regressions") {
            target.run(Array(try Data(contentsOf: file)))
        }
    }
}
