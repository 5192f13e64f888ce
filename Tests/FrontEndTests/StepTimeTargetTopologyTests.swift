import Foundation
import FrontEnd
import Testing

/// A topology sets its workers' step-time target as a simulated system does (`stepTimeTargetMs`,
/// a ``PolicySpec`` field: 50 by default, 0 off), and every worker it starts runs with it.
@Suite struct StepTimeTargetTopologyTests {
    @Test func workersRunTheTopologysStepTimeTarget() async throws {
        let frontEnd = try await Support.frontEnd("""
            stepTimeTargetMs: 20
            groups:
              - group: text
                workers: [{role: mono, count: 1}]
            """)
        let arguments = Support.workerArguments(frontEnd, role: .mono)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        let option = try #require(arguments.lastIndex(of: "--step-time-target-ms"), "the worker's arguments: \(arguments)")
        #expect(Double(arguments[option + 1]) == 20)
    }
}
