public import Foundation
public import TrustMeshModel

/// Whether this trust may share a study with the trust asking for it, now.
///
/// The node calls ``decide(_:policy:)`` when serving a fetch, and the auditor's replay calls it
/// again on the facts a log recorded, so it is a pure function: no I/O, no clock (the time is in
/// the request), no randomness. The same request and policy always give the same decision.
///
/// ## Order of checks
///
/// The first rule that fails is the reason given; later rules are not evaluated. The order puts
/// the facts that need no care relationship first, and never tells an unknown trust more than
/// that it is unknown:
///
/// 1. ``PolicyRule/unknownPeer``: the requester has no pinned key.
/// 2. ``PolicyRule/unknownStudy``: the study is not held here.
/// 3. ``PolicyRule/optedOut``: the patient has opted out of sharing.
/// 4. ``PolicyRule/noCareRelationship``: no care relationship was presented.
/// 5. ``PolicyRule/careSignedByAnotherTrust``: the relationship's trust is not the requester, or
///    its signature does not verify with the requester's pinned key.
/// 6. ``PolicyRule/careForAnotherPatient``: its NHS number is not the study's.
/// 7. ``PolicyRule/careClinicianUnverified``: it has no clinician identity, or the identity's
///    issuer, subject or name is empty (white space counts as empty), or its organisation is not
///    the relationship's trust.
/// 8. ``PolicyRule/careNotStarted``: its start is after now plus ``NetworkPolicy/clockSkew``.
/// 9. ``PolicyRule/careExpired``: its stated expiry is before now (an expiry equal to now still
///    counts).
/// 10. ``PolicyRule/careTooOld``: its start plus the cap for its kind (``NetworkPolicy/cap(_:)``)
///     is before now (exactly the cap still counts), whatever expiry it states.
///
/// A start or expiry that cannot be read fails closed, as ``PolicyRule/careNotStarted`` or
/// ``PolicyRule/careExpired``; a ``CareRelationship`` decoded from JSON always has readable times.
/// A share carries the relationship's ``CareExpiry``: the expiry that applied, and whether the cap
/// cut the stated one.
///
/// ```swift
/// let decision = SharingPolicy.decide(
///     SharingRequest(requester: peer.ods, requesterKey: peer.signingKey, care: request.care,
///                    studyNHSNumber: held?.nhsNumber, optedOut: OptOutPolicy.decide(records).optedOut, now: Date()),
///     policy: networkPolicy)
/// if case .refuse(let rule) = decision { throw refusal(rule.rawValue, rule.explanation(for: request.care)) }
/// ```
public enum SharingPolicy {
    /// Decides whether to share, checking the rules in the documented order.
    /// - Parameters:
    ///   - request: What the holder knows about the request.
    ///   - policy: The network's policy; every node and the auditor must use the same.
    /// - Returns: ``SharingDecision/share(_:)`` with the expiry applied, or
    ///   ``SharingDecision/refuse(_:)`` with the first rule that failed.
    public static func decide(_ request: SharingRequest, policy: NetworkPolicy = NetworkPolicy()) -> SharingDecision {
        guard let requesterKey = request.requesterKey else { return .refuse(.unknownPeer) }
        guard let studyNHSNumber = request.studyNHSNumber else { return .refuse(.unknownStudy) }
        if request.optedOut { return .refuse(.optedOut) }
        guard let care = request.care else { return .refuse(.noCareRelationship) }
        guard care.trust == request.requester, (try? care.verify(with: requesterKey)) != nil else {
            return .refuse(.careSignedByAnotherTrust)
        }
        guard care.nhsNumber == studyNHSNumber else { return .refuse(.careForAnotherPatient) }
        guard isVerified(care) else { return .refuse(.careClinicianUnverified) }
        switch timeRule(care, now: request.now, policy: policy) {
        case .failure(let rule): return .refuse(rule)
        case .success(let expiry): return .share(expiry)
        }
    }

    /// Whether a care relationship names a verified clinician of its own trust (rule 7 of
    /// ``decide(_:policy:)``).
    /// - Parameter care: The relationship; its signature is not checked here.
    /// - Returns: `true` if it has a clinician identity with a non-empty issuer, subject and name,
    ///   whose organisation is the relationship's trust.
    public static func isVerified(_ care: CareRelationship) -> Bool {
        guard let person = care.clinicianIdentity else { return false }
        let blank = { (text: String) in text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        return !blank(person.issuer) && !blank(person.subject) && !blank(person.name)
            && person.organisation == care.trust
    }

    /// Whether a care relationship is current at `now`: started (within the clock skew), not past
    /// its stated expiry, and not older than the cap for its kind.
    ///
    /// Checks only the relationship's times, not its signature, patient or clinician; for listing a
    /// trust's own relationships and choosing one to present.
    /// - Parameters:
    ///   - care: The relationship.
    ///   - now: The time to judge at.
    ///   - policy: The network's policy.
    /// - Returns: `true` if rules 8 to 10 of ``decide(_:policy:)`` all hold.
    public static func isCurrent(_ care: CareRelationship, now: Date, policy: NetworkPolicy = NetworkPolicy()) -> Bool {
        if case .success = timeRule(care, now: now, policy: policy) { return true }
        return false
    }

    /// What rules 8 to 10 found.
    private enum TimeOutcome {
        case success(CareExpiry)
        case failure(PolicyRule)
    }

    /// Rules 8 to 10: the first that fails, or the expiry that applies.
    private static func timeRule(_ care: CareRelationship, now: Date, policy: NetworkPolicy) -> TimeOutcome {
        guard let start = care.startDate, start <= now.addingTimeInterval(policy.clockSkew.timeInterval) else {
            return .failure(.careNotStarted)
        }
        guard let expiry = CareExpiry(care, policy: policy) else { return .failure(.careExpired) }
        if let stated = expiry.stated, stated < now { return .failure(.careExpired) }
        if expiry.capped < now { return .failure(.careTooOld) }
        return .success(expiry)
    }
}
