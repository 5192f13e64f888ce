import Testing
@testable import Tensor
