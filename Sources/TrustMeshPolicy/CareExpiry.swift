public import Foundation
public import TrustMeshModel

/// When a care relationship stops counting under the network policy: the earlier of the expiry it
/// states and its start plus the cap for its kind (``NetworkPolicy/cap(_:)``).
///
/// The holder records it with every share (``auditSubject``), so an auditor sees an expiry the
/// requester wrote as `9999-12-31` cut to the cap.
public struct CareExpiry: Sendable, Hashable {
    /// The expiry the relationship states; `nil` if it states none.
    public var stated: Date?
    /// Its start plus the cap for its kind.
    public var capped: Date
    /// The expiry that applies: the earlier of ``stated`` and ``capped``.
    public var effective: Date { stated.map { min($0, capped) } ?? capped }
    /// Whether the cap cut the stated expiry (or stood in for a missing one).
    public var isCut: Bool { stated.map { $0 > capped } ?? true }

    /// The expiry of a relationship under a policy.
    /// - Parameters:
    ///   - care: The relationship.
    ///   - policy: The network policy.
    /// - Returns: Its expiry, or `nil` if its start or stated expiry cannot be read (a relationship
    ///   decoded from JSON always has readable times).
    public init?(_ care: CareRelationship, policy: NetworkPolicy) {
        guard let start = care.startDate else { return nil }
        if let text = care.expiry {
            guard let stated = CareTime.parse(text) else { return nil }
            self.stated = stated
        } else {
            stated = nil
        }
        capped = start.addingTimeInterval(policy.cap(care.kind).timeInterval)
    }

    /// The audit subject that records it: `expiryEffective` always, and `expiryStated` (the stated
    /// expiry, or `none`) when the cap cut it.
    public var auditSubject: [AuditEntry.SubjectKey: String] {
        var subject: [AuditEntry.SubjectKey: String] = [.expiryEffective: CareTime.format(effective)]
        if isCut { subject[.expiryStated] = stated.map(CareTime.format) ?? "none" }
        return subject
    }
}
