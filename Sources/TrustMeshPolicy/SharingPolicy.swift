public import Foundation
public import TrustMeshModel

/// Whether this trust may share a study with the trust asking for it, now.
///
/// The node calls ``decide(_:settings:)`` when serving a fetch, and the auditor's replay calls it
/// again on the facts a log recorded, so it is a pure function: no I/O, no clock (the time is in
/// the request), no randomness. The same request and settings always give the same decision.
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
/// 7. ``PolicyRule/careNotStarted``: its start is after now plus ``PolicySettings/clockSkew``.
/// 8. ``PolicyRule/careExpired``: its expiry is before now (an expiry equal to now still counts).
/// 9. ``PolicyRule/careTooOld``: it states no expiry and its start is more than
///    ``PolicySettings/maximumAgeWithoutExpiry`` before now (exactly the maximum still counts).
///
/// A start or expiry that cannot be read fails closed, as ``PolicyRule/careNotStarted`` or
/// ``PolicyRule/careExpired``; a ``CareRelationship`` decoded from JSON always has readable times.
///
/// ```swift
/// let decision = SharingPolicy.decide(
///     SharingRequest(requester: peer.ods, requesterKey: peer.signingKey, care: request.care,
///                    studyNHSNumber: held?.nhsNumber, optedOut: view.isOptedOut(nhs), now: Date()))
/// if case .refuse(let rule) = decision { throw refusal(rule.rawValue, rule.explanation(for: request.care)) }
/// ```
public enum SharingPolicy {
    /// Decides whether to share, checking the rules in the documented order.
    /// - Parameters:
    ///   - request: What the holder knows about the request.
    ///   - settings: The network's limits; every node and the auditor must use the same.
    /// - Returns: ``SharingDecision/share``, or ``SharingDecision/refuse(_:)`` with the first rule
    ///   that failed.
    public static func decide(_ request: SharingRequest, settings: PolicySettings = .init()) -> SharingDecision {
        guard let requesterKey = request.requesterKey else { return .refuse(.unknownPeer) }
        guard let studyNHSNumber = request.studyNHSNumber else { return .refuse(.unknownStudy) }
        if request.optedOut { return .refuse(.optedOut) }
        guard let care = request.care else { return .refuse(.noCareRelationship) }
        guard care.trust == request.requester, (try? care.verify(with: requesterKey)) != nil else {
            return .refuse(.careSignedByAnotherTrust)
        }
        guard care.nhsNumber == studyNHSNumber else { return .refuse(.careForAnotherPatient) }
        if let rule = timeRule(care, now: request.now, settings: settings) { return .refuse(rule) }
        return .share
    }

    /// Whether a care relationship is current at `now`: started (within the clock skew), not
    /// expired, and not older than the maximum age if it states no expiry.
    ///
    /// Checks only the relationship's times, not its signature or patient; for listing a trust's
    /// own relationships and choosing one to present.
    /// - Parameters:
    ///   - care: The relationship.
    ///   - now: The time to judge at.
    ///   - settings: The network's limits.
    /// - Returns: `true` if rules 7 to 9 of ``decide(_:settings:)`` all hold.
    public static func isCurrent(_ care: CareRelationship, now: Date, settings: PolicySettings = .init()) -> Bool {
        timeRule(care, now: now, settings: settings) == nil
    }

    /// Rules 7 to 9: the first that fails, or `nil`.
    private static func timeRule(_ care: CareRelationship, now: Date, settings: PolicySettings) -> PolicyRule? {
        guard let start = care.startDate, start <= now.addingTimeInterval(settings.clockSkew.timeInterval) else {
            return .careNotStarted
        }
        if let expiry = care.expiry {
            guard let expiryDate = CareTime.parse(expiry), expiryDate >= now else { return .careExpired }
        } else if now.timeIntervalSince(start) > settings.maximumAgeWithoutExpiry.timeInterval {
            return .careTooOld
        }
        return nil
    }
}
