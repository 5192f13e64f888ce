extension ClusterView {
    /// The active instances able to run `stage` for a request of `group`: those of the group, or
    /// of any group when none in it can (a group whose only worker of a stage is switching roles).
    /// `.encode` means dedicated encoders only; other roles encode inline during prefill.
    ///
    /// The one stage-candidate filter: the live front end and the simulator both hand its result
    /// to the router or encode dispatcher.
    ///
    /// ```swift
    /// let pool = view.candidates(for: .prefill, group: info.group)
    /// let target = router.route(info, to: .prefill, candidates: pool, in: view)
    /// ```
    public func candidates(for stage: Stage, group: ModalityGroup) -> [Int] {
        let able = { (s: InstanceStatus) in s.isActive && (stage == .encode ? s.role == .encode : s.role.runs(stage)) }
        let inGroup = instances.filter { able($0) && $0.group == group }.map(\.id)
        return inGroup.isEmpty ? instances.filter(able).map(\.id) : inGroup
    }
}
