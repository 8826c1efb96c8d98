public import TrustMeshModel

/// A sharing rule that can fail: the closed set of reasons a holder refuses to share a study.
///
/// The raw values are stable: they travel to the requesting trust in refusals and are written to
/// audit logs, so a rule is never renamed, only added. Cases are listed in the order
/// ``SharingPolicy`` checks them.
public enum PolicyRule: String, Sendable, Codable, CaseIterable {
    /// The requesting trust has no key pinned in this node's topology.
    case unknownPeer
    /// The study is not held here (or is held without a valid NHS number, and so is never shared).
    case unknownStudy
    /// The patient has opted out of sharing imaging.
    case optedOut
    /// The request carried no care relationship.
    case noCareRelationship
    /// The care relationship names another trust than the requester, or its signature does not
    /// verify with the requester's pinned key.
    case careSignedByAnotherTrust
    /// The care relationship is for another NHS number than the study's.
    case careForAnotherPatient
    /// The care relationship names no clinician verified by the requesting trust's sign-in: it has
    /// no clinician identity (a local operator recorded it), its issuer, subject or name is empty,
    /// or the clinician's role is held at another trust than the relationship's.
    case careClinicianUnverified
    /// The care relationship starts later than now plus the tolerated clock skew (or its start
    /// cannot be read).
    case careNotStarted
    /// The care relationship's expiry has passed (or cannot be read).
    case careExpired
    /// The care relationship started longer ago than the network policy's cap for its kind (whatever
    /// expiry it states).
    case careTooOld

    /// What failed, in words a clinician understands, without details of the particular request.
    ///
    /// The same as ``explanation(for:policy:)`` with no care relationship and the default policy.
    public var explanation: String { explanation(for: nil) }

    /// What failed, in words a clinician understands, with the dates that made it fail.
    ///
    /// Never contains an NHS number or a clinician's name, so it can go to the requesting trust and
    /// into logs.
    /// - Parameters:
    ///   - care: The care relationship that was presented, for the expiry date it states and its kind.
    ///   - policy: The network policy the decision used, for the cap it applied.
    /// - Returns: For example "the care relationship has expired (on 2026-12-31 at 23:59:59 UTC)".
    public func explanation(for care: CareRelationship?, policy: NetworkPolicy = NetworkPolicy()) -> String {
        switch self {
        case .unknownPeer:
            return "the requesting trust is not in this network"
        case .unknownStudy:
            return "the study is not held here"
        case .optedOut:
            return "the patient has opted out of sharing imaging"
        case .noCareRelationship:
            return "no care relationship was presented"
        case .careSignedByAnotherTrust:
            return "the care relationship was not signed by the requesting trust"
        case .careForAnotherPatient:
            return "the care relationship is for a different patient"
        case .careClinicianUnverified:
            return "the care relationship does not name a clinician of the requesting trust verified by its sign-in"
        case .careNotStarted:
            return "the care relationship starts in the future"
        case .careExpired:
            guard let expiry = care?.expiryDate else { return "the care relationship has expired" }
            let text = CareTime.format(expiry)
            return "the care relationship has expired (on \(text.prefix(10)) at \(text.dropFirst(11).prefix(8)) UTC)"
        case .careTooOld:
            guard let kind = care?.kind else {
                return "the care relationship is older than the network's maximum for its kind"
            }
            return "the care relationship is older than the network's maximum of "
                + "\(NetworkPolicy.words(policy.cap(kind))) for \(Self.described(kind)) relationship"
        }
    }

    /// A kind with its article, in lowercase words: "an emergency", "a multidisciplinary team".
    private static func described(_ kind: CareRelationship.Kind) -> String {
        switch kind {
        case .referral: "a referral"
        case .admission: "an admission"
        case .outpatient: "an outpatient"
        case .emergency: "an emergency"
        case .mdt: "a multidisciplinary team"
        }
    }
}
