import ArgumentParser

/// `tessera sleep SECONDS`: waits, then exits. The image holds no shell, so a pod's `preStop` hook
/// runs this to keep serving while its endpoints are withdrawn, before SIGTERM starts the drain:
///
/// ```yaml
/// lifecycle: {preStop: {exec: {command: [/usr/local/bin/tessera, sleep, "5"]}}}
/// ```
struct SleepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sleep", abstract: "Wait SECONDS seconds and exit (a preStop hook for images without a shell).")

    @Argument(help: "Seconds to wait.")
    var seconds: Double

    func validate() throws {
        guard seconds >= 0, seconds.isFinite else { throw ValidationError("SECONDS must be a finite number >= 0") }
    }

    func run() async throws {
        try await Task.sleep(for: .seconds(seconds))
    }
}
