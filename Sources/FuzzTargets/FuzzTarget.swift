import Foundation

/// One coverage-guided fuzz target: what it feeds arbitrary bytes to and what must then hold.
/// A target returns normally for every input the code under test rejects cleanly; it traps (an
/// overflow, an out-of-bounds index, a failed `precondition`) on a defect, which libFuzzer
/// (`tests/fuzz/run.sh`) records as a crashing input and ``FuzzTargetsTests`` replays once it is
/// kept under `tests/fuzz/regressions/`.
///
/// ```swift
/// let targets = FuzzTarget.all(fixtures: URL(fileURLWithPath: "fixtures"))
/// targets.first { $0.name == "json" }?.run(Array(#"{"a": [1, 2.5e3]}"#.utf8))
/// ```
public struct FuzzTarget: Sendable {
    public let name: String
    /// Fixture files whose bytes seed the target's corpus, besides `tests/fuzz/corpus/NAME/`.
    public let seeds: [URL]
    public let run: @Sendable ([UInt8]) -> Void

    public init(name: String, seeds: [URL] = [], run: @escaping @Sendable ([UInt8]) -> Void) {
        self.name = name
        self.seeds = seeds
        self.run = run
    }

    /// Every target; `fixtures` is the repository's `fixtures/` folder (tokenizers, images, templates).
    public static func all(fixtures: URL) -> [FuzzTarget] {
        [json, tokenizerJSON(fixtures: fixtures), tokenizer(fixtures: fixtures), chatTemplate(fixtures: fixtures),
         image(fixtures: fixtures), wireFrame]
    }

    /// The files directly in `folder` with one of `extensions` (all files when empty), sorted.
    static func files(in folder: URL, extensions: Set<String> = []) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
            .filter { extensions.isEmpty || extensions.contains($0.pathExtension) }
    }
}
