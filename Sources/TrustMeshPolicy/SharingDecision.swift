/// The outcome of ``SharingPolicy/decide(_:settings:)``.
public enum SharingDecision: Sendable, Equatable {
    /// Every rule holds: share the study.
    case share
    /// Refuse, naming the first rule that failed (in ``SharingPolicy``'s documented order).
    case refuse(PolicyRule)
}
