/// How many instances of each role and group a fleet starts with.
///
/// The three baselines of the papers are presets:
/// ```swift
/// Deployment.monolithic(8)                         // vLLM-like, every instance runs E+P+D
/// Deployment.prefillDecode(prefill: 4, decode: 4)  // DistServe-like, encode inside prefill
/// Deployment.staticEPD(encode: 2, prefill: 3, decode: 3)
/// ```
public struct Deployment: Sendable, Hashable, Codable {
    public struct Slot: Sendable, Hashable, Codable {
        public var role: InstanceRole
        public var group: ModalityGroup
        public var count: Int

        public init(role: InstanceRole, group: ModalityGroup, count: Int) {
            self.role = role
            self.group = group
            self.count = count
        }
    }

    public var slots: [Slot]

    public init(slots: [Slot]) {
        self.slots = slots
    }

    /// Total instances.
    public var size: Int { slots.reduce(0) { $0 + $1.count } }

    /// Every instance runs all stages (vLLM-like); all in the multimodal group so they serve everything.
    public static func monolithic(_ n: Int) -> Deployment {
        Deployment(slots: [Slot(role: .mono, group: .multimodal, count: n)])
    }

    /// Prefill/decode disaggregation with the encoder inside prefill (DistServe-like).
    public static func prefillDecode(prefill: Int, decode: Int) -> Deployment {
        Deployment(slots: [Slot(role: .encodePrefill, group: .multimodal, count: prefill),
                           Slot(role: .decode, group: .multimodal, count: decode)])
    }

    /// Fixed encode/prefill/decode split (EPD with role switching off).
    public static func staticEPD(encode: Int, prefill: Int, decode: Int) -> Deployment {
        Deployment(slots: [Slot(role: .encode, group: .multimodal, count: encode),
                           Slot(role: .prefill, group: .multimodal, count: prefill),
                           Slot(role: .decode, group: .multimodal, count: decode)])
    }
}
