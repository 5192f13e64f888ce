import Testing
@testable import ChatTemplates
