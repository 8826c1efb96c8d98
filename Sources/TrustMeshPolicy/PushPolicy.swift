public import Foundation
public import TrustMeshCrypto
public import TrustMeshModel

/// Why an emergency push was refused: the closed set of push rules. The raw values are stable: they
/// travel in refusals and are written to both trusts' audit logs (subject `rule`).
public enum PushRule: String, Sendable, Codable, CaseIterable {
    /// The receiving trust does not accept pushes from the sending trust (`node run --accept-push-from`).
    case pushNotAllowed
    /// The grant names another holder than the sender, or another receiver than this trust.
    case pushNotAddressedHere
    /// The grant is not signed by the trust it names as holder.
    case pushBadSignature
    /// The push is not of kind `emergency`.
    case pushNotEmergency
    /// The push gives no reason (justification), or one longer than 1000 characters.
    case pushNoReason
    /// The push names no clinician at the receiving trust, or a name longer than 128 characters.
    case pushNoClinician
    /// The grant has expired, or was issued later than now plus the clock skew.
    case pushExpired
    /// The sending trust does not hold the study (its signed index record was not sent, or is for
    /// another study or patient).
    case pushStudyNotHeld
    /// This push (its grant's id) was received before.
    case pushReplayed
    /// At the holder: the grant presented was not signed by this trust.
    case pushNotIssuedHere
    /// At the holder: the grant is for another study, patient or trust than the fetch.
    case pushDoesNotCover
    /// The patient has opted out of sharing imaging.
    case pushOptedOut

    /// What failed, in words for both trusts' clinicians and logs (no patient data).
    public var explanation: String {
        switch self {
        case .pushNotAllowed: "this trust does not accept pushes from the sending trust"
        case .pushNotAddressedHere: "the push is addressed to another trust, or names another sender"
        case .pushBadSignature: "the push grant is not signed by the sending trust"
        case .pushNotEmergency: "only emergency pushes are accepted"
        case .pushNoReason: "the push gives no reason (1 to 1000 characters are needed)"
        case .pushNoClinician: "the push names no clinician at the receiving trust (1 to 128 characters)"
        case .pushExpired: "the push grant has expired or is not yet valid"
        case .pushStudyNotHeld: "the sending trust does not hold the study"
        case .pushReplayed: "this push was received before"
        case .pushNotIssuedHere: "the push grant was not issued by this trust"
        case .pushDoesNotCover: "the push grant does not cover this study for this trust"
        case .pushOptedOut: "the patient has opted out of sharing imaging"
        }
    }
}

/// The pure decisions of an emergency push (docs/ARCHITECTURE.md, "Emergency push"): whether a
/// receiving trust accepts a push, and whether a holder serves a fetch under a grant it issued. The
/// holder's serve decision is re-run by the auditor's replay on what the log recorded.
public enum PushPolicy {
    /// What the receiving trust knows when a push arrives.
    public struct Arrival: Sendable {
        /// The sending trust, as the peer envelope authenticated it.
        public var sender: TrustID
        /// Its signing key now.
        public var senderKey: VerifyingKey
        /// This trust.
        public var receiver: TrustID
        /// The trusts this trust accepts pushes from.
        public var allowed: Set<TrustID>
        /// The grant the push carries.
        public var grant: PushGrant
        /// Whether the push carries the sender's index record of the study, verified with its key,
        /// naming the grant's study and patient.
        public var senderHoldsStudy: Bool
        /// Whether a push with the grant's id was received before.
        public var seenBefore: Bool
        /// The time of the decision.
        public var now: Date

        /// Gathers the facts of one arrival (see each property).
        public init(
            sender: TrustID, senderKey: VerifyingKey, receiver: TrustID, allowed: Set<TrustID>, grant: PushGrant,
            senderHoldsStudy: Bool, seenBefore: Bool, now: Date
        ) {
            self.sender = sender
            self.senderKey = senderKey
            self.receiver = receiver
            self.allowed = allowed
            self.grant = grant
            self.senderHoldsStudy = senderHoldsStudy
            self.seenBefore = seenBefore
            self.now = now
        }
    }

    /// Whether the receiving trust accepts a push: nil, or the first rule that fails, in the order
    /// of ``PushRule``'s cases (sender allowed first: a trust not allowed learns nothing more).
    public static func accept(_ arrival: Arrival, policy: NetworkPolicy = NetworkPolicy()) -> PushRule? {
        let grant = arrival.grant
        guard arrival.allowed.contains(arrival.sender) else { return .pushNotAllowed }
        guard grant.holder == arrival.sender, grant.receiver == arrival.receiver else { return .pushNotAddressedHere }
        guard (try? grant.verify(with: arrival.senderKey)) != nil else { return .pushBadSignature }
        guard grant.kind == PushGrant.emergency else { return .pushNotEmergency }
        let reason = grant.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...1000).contains(reason.count) else { return .pushNoReason }
        let clinician = grant.clinician.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...128).contains(clinician.count) else { return .pushNoClinician }
        guard current(grant, now: arrival.now, policy: policy) else { return .pushExpired }
        guard arrival.senderHoldsStudy else { return .pushStudyNotHeld }
        guard !arrival.seenBefore else { return .pushReplayed }
        return nil
    }

    /// Whether a holder serves a fetch under a push grant: nil, or the first rule that fails.
    /// - Parameters:
    ///   - grant: The grant the fetch presented.
    ///   - holder: This trust.
    ///   - holderKeys: This trust's signing keys (any of them may have signed it).
    ///   - requester: The trust fetching, as its envelope authenticated it.
    ///   - studyUID: The study asked for.
    ///   - studyNHSNumber: Its patient as held here; nil when it is not held.
    ///   - optedOut: Whether the patient has opted out.
    ///   - now: The time of the decision.
    ///   - policy: The network's policy (its clock skew).
    public static func serve(
        _ grant: PushGrant, holder: TrustID, holderKeys: [VerifyingKey], requester: TrustID, studyUID: String,
        studyNHSNumber: NHSNumber?, optedOut: Bool, now: Date, policy: NetworkPolicy = NetworkPolicy()
    ) -> PushRule? {
        guard grant.holder == holder, holderKeys.contains(where: { (try? grant.verify(with: $0)) != nil }) else {
            return .pushNotIssuedHere
        }
        guard grant.receiver == requester, grant.studyUID == studyUID, let studyNHSNumber,
            grant.nhsNumber == studyNHSNumber
        else { return .pushDoesNotCover }
        if optedOut { return .pushOptedOut }
        guard grant.kind == PushGrant.emergency else { return .pushNotEmergency }
        guard current(grant, now: now, policy: policy) else { return .pushExpired }
        return nil
    }

    /// Whether `now` is within the grant's validity: issued no later than now plus the clock skew,
    /// and not past its expiry (an expiry equal to now still counts).
    public static func current(_ grant: PushGrant, now: Date, policy: NetworkPolicy = NetworkPolicy()) -> Bool {
        guard let issued = grant.issuedDate, let expires = grant.expiryDate else { return false }
        return issued <= now.addingTimeInterval(policy.clockSkew.timeInterval) && expires >= now
    }
}
