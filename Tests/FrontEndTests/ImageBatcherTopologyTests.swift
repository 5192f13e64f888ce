import Foundation
import FrontEnd
import Testing

/// A topology names its image batcher as a simulated system does (`imageBatcher`, one of
/// `PolicyCatalog.imageBatchers`), and every image worker it starts runs that batcher.
@Suite struct ImageBatcherTopologyTests {
    @Test func imageWorkersRunTheTopologysImageBatcher() async throws {
        let frontEnd = try await Support.frontEnd("""
            imageBatcher: lora-homogeneous
            groups:
              - group: text
                workers: [{role: mono, count: 1}]
              - group: image
                workers: [{role: image, count: 1}]
            """) { options in options.imageModelDirectory = ImageServingTests.folder }
        let arguments = Support.workerArguments(frontEnd, role: .image)
        await frontEnd.shutdown(gracePeriod: .seconds(1))
        let option = try #require(arguments.lastIndex(of: "--image-batcher"), "the image worker's arguments: \(arguments)")
        #expect(arguments[option + 1] == "lora-homogeneous")
    }
}
