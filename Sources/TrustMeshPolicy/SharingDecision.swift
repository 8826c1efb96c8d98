/// The outcome of ``SharingPolicy/decide(_:policy:)``.
public enum SharingDecision: Sendable, Equatable {
    /// Every rule holds: share the study. Carries the expiry the policy applied to the care
    /// relationship, which says whether it cut the stated one.
    case share(CareExpiry)
    /// Refuse, naming the first rule that failed (in ``SharingPolicy``'s documented order).
    case refuse(PolicyRule)

    /// Whether the study may be shared.
    public var isShare: Bool {
        if case .share = self { return true }
        return false
    }

    /// The rule that failed, or `nil` for a share.
    public var rule: PolicyRule? {
        if case .refuse(let rule) = self { return rule }
        return nil
    }
}
