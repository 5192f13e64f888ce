import Testing
@testable import CoreUtilities

@Test func fnv1aMatchesTheReferenceValues() {
    #expect(FNV1a.hash("") == 0xcbf2_9ce4_8422_2325)
    #expect(FNV1a.hash("a") == 0xaf63_dc4c_8601_ec8c)
}

@Test func splitMix64MatchesTheReferenceSequence() {
    var rng = SplitMix64(seed: 0)
    #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
    #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
    var u = SplitMix64(seed: 42)
    for _ in 0..<1000 { let x = u.uniform(); #expect(x >= 0 && x < 1) }
}
