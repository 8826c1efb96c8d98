public import Foundation
public import TrustMeshCrypto

/// A holder's signed permission for one trust to fetch one study it pushes there: the ticket of an
/// emergency push (docs/ARCHITECTURE.md, "Emergency push").
///
/// The holding trust's node signs it when its clinician pushes a study; it travels to the receiving
/// trust in the push request, and comes back to the holder in the receiver's fetch of the study, in
/// place of a care relationship. The holder accepts only a grant it signed itself, for that study
/// and that trust, until it expires.
///
/// ```swift
/// let grant = PushGrant.Draft(
///     id: UUID().uuidString.lowercased(), holder: me, receiver: try TrustID("RKB"), studyUID: uid,
///     nhsNumber: nhs, clinician: "Dr Ama Boateng", reason: "Trauma transfer", kind: PushGrant.emergency,
///     pushedBy: person, issued: CareTime.format(now), expires: CareTime.format(now + 72 * 3600)
/// ).signed(by: nodeKey)
/// try grant.verify(with: holderKey)   // throws CryptoError.badSignature
/// ```
public struct PushGrant: Sendable, Codable, Hashable {
    /// The only kind a node accepts: an emergency transfer.
    public static let emergency = "emergency"

    /// The push's identity: a lowercase UUID chosen by the holder.
    public let id: String
    /// The holding trust, whose node signed the grant and serves the study.
    public let holder: TrustID
    /// The trust the study is pushed to.
    public let receiver: TrustID
    /// The study pushed.
    public let studyUID: String
    /// The study's patient.
    public let nhsNumber: NHSNumber
    /// The clinician at the receiving trust it is pushed to, as the pushing clinician named them.
    public let clinician: String
    /// Why it is pushed: the justification information governance reviews.
    public let reason: String
    /// The push's kind: ``emergency`` (a receiver refuses any other).
    public let kind: String
    /// The signed-in clinician at the holding trust who pushed it.
    public let pushedBy: Person
    /// When it was pushed, `YYYY-MM-DDTHH:MM:SSZ`.
    public let issued: String
    /// Until when the receiver may fetch under it, `YYYY-MM-DDTHH:MM:SSZ`.
    public let expires: String
    /// The holder's Ed25519 signature of ``signedBytes``.
    public let signature: Signature

    /// A grant from its fields and signature, as signed (nothing is checked).
    public init(draft: Draft, signature: Signature) {
        id = draft.id
        holder = draft.holder
        receiver = draft.receiver
        studyUID = draft.studyUID
        nhsNumber = draft.nhsNumber
        clinician = draft.clinician
        reason = draft.reason
        kind = draft.kind
        pushedBy = draft.pushedBy
        issued = draft.issued
        expires = draft.expires
        self.signature = signature
    }

    /// The signed fields.
    public var draft: Draft {
        Draft(
            id: id, holder: holder, receiver: receiver, studyUID: studyUID, nhsNumber: nhsNumber,
            clinician: clinician, reason: reason, kind: kind, pushedBy: pushedBy, issued: issued, expires: expires)
    }

    /// The canonical encoding of every field except ``signature``.
    public var signedBytes: [UInt8] { draft.signedBytes }

    /// ``issued`` as a time, if it is in its form.
    public var issuedDate: Date? { CareTime.parse(issued) }

    /// ``expires`` as a time, if it is in its form.
    public var expiryDate: Date? { CareTime.parse(expires) }

    /// Checks that ``signature`` is `key`'s signature of ``signedBytes``.
    /// - Parameter key: The holding trust's key (the holder checks with its own).
    /// - Throws: ``CryptoError/badSignature`` if any field was altered or another key signed it.
    public func verify(with key: VerifyingKey) throws(CryptoError) {
        try key.verify(signature, for: signedBytes)
    }
}

extension PushGrant {
    /// The signed fields of a ``PushGrant``, before signing.
    public struct Draft: Sendable, Hashable {
        public var id: String
        public var holder: TrustID
        public var receiver: TrustID
        public var studyUID: String
        public var nhsNumber: NHSNumber
        public var clinician: String
        public var reason: String
        public var kind: String
        public var pushedBy: Person
        public var issued: String
        public var expires: String

        /// The fields of a grant (see ``PushGrant`` for each); nothing is checked here.
        public init(
            id: String, holder: TrustID, receiver: TrustID, studyUID: String, nhsNumber: NHSNumber, clinician: String,
            reason: String, kind: String, pushedBy: Person, issued: String, expires: String
        ) {
            self.id = id
            self.holder = holder
            self.receiver = receiver
            self.studyUID = studyUID
            self.nhsNumber = nhsNumber
            self.clinician = clinician
            self.reason = reason
            self.kind = kind
            self.pushedBy = pushedBy
            self.issued = issued
            self.expires = expires
        }

        /// The domain-separation string of push grants, version 1.
        public static let domain = "TrustMesh/PushGrant/v1"

        /// ``domain`` and `0x00`, then in ``CanonicalEncoder``'s forms: `id`, `holder`, `receiver`,
        /// `studyUID`, `nhsNumber` (10 digits), `clinician`, `reason`, `kind` (Strings), `pushedBy`
        /// (as in a care relationship's clinician identity), `issued`, `expires` (Strings).
        public var signedBytes: [UInt8] {
            var encoder = CanonicalEncoder(domain: Self.domain)
            encoder.append(id)
            encoder.append(holder.code)
            encoder.append(receiver.code)
            encoder.append(studyUID)
            encoder.append(nhsNumber.digits)
            encoder.append(clinician)
            encoder.append(reason)
            encoder.append(kind)
            encoder.append(pushedBy)
            encoder.append(issued)
            encoder.append(expires)
            return encoder.bytes
        }

        /// Signs the fields with the holding trust's node key.
        public func signed(by key: SigningKey) -> PushGrant {
            PushGrant(draft: self, signature: key.sign(signedBytes))
        }
    }
}
