import Foundation
public import TrustMeshCrypto

/// What a node tells the network about one study it holds, signed by that node (its **origin**).
///
/// Each origin numbers its records 1, 2, 3… without gaps (``sequence``), which lets gossip summarise
/// "everything I hold from RRK" as one number. A later record for the same (``origin``, ``studyUID``)
/// supersedes an earlier one: a study that gains instances is re-announced with a higher sequence, and a
/// study deleted at its origin is announced as ``Kind-swift.struct/withdrawn``. A ``Kind-swift.struct/optOut``
/// record says the patient has opted out of sharing: every node stops listing and sharing all of that
/// NHS number's studies, whichever trust holds them, if the origin may record one (it holds imaging
/// for the patient or a current care relationship: `TrustMeshPolicy`'s `OptOutPolicy` decides); a
/// later ``Kind-swift.struct/optOutWithdrawn`` record withdraws it. Both carry an ``OptOutStatement``:
/// who recorded it, a reference to the patient's expression of the wish, and the care relationship
/// relied on, if any.
///
/// The signature covers ``signedBytes``, the canonical encoding of every field except the signature
/// itself (see ``CanonicalEncoder`` for the byte forms). Records travel as JSON (the `Codable` form),
/// which need not be byte-stable: a receiver always re-derives ``signedBytes`` from the decoded
/// fields and checks the signature with the origin's pinned key, never trusting the node that relayed
/// the record.
///
/// ```swift
/// let record = IndexRecord.Draft(
///     origin: try TrustID("RRK"), sequence: 12, kind: .study, nhsNumber: try NHSNumber("9434765919"),
///     studyUID: "1.2.826.0.1.3680043.10.999.1", modalities: ["CT"], instanceCount: 300,
///     sizeBytes: 157_286_400, issuedAt: "2026-03-14T09:26:53Z"
/// ).signed(by: nodeKey)
/// try record.verify(with: pinnedKeys[record.origin]!)   // throws CryptoError.badSignature
/// ```
public struct IndexRecord: Sendable, Codable, Hashable {
    /// What a record announces. An open set: a record of a kind this version does not know is still
    /// verified, stored, relayed and counted in its origin's sequence (so gossip from that origin
    /// never stalls on it), and simply not listed — a newer node may add kinds without breaking older
    /// ones.
    public struct Kind: RawRepresentable, Sendable, Codable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The origin holds this study (first announcement or an update).
        public static let study = Kind(rawValue: "study")
        /// The study was deleted at its origin; other nodes stop listing it.
        public static let withdrawn = Kind(rawValue: "withdrawn")
        /// The patient opted out of sharing: every node stops listing and sharing this NHS number's
        /// studies, from every origin. ``IndexRecord/studyUID`` is `nil`.
        public static let optOut = Kind(rawValue: "optOut")
        /// The patient withdrew their opt-out: with ``optOut``, the record with the latest issue time
        /// decides (see `OptOutPolicy`). ``IndexRecord/studyUID`` is `nil`.
        public static let optOutWithdrawn = Kind(rawValue: "optOutWithdrawn")

        /// Whether a record of this kind states or withdraws an opt-out.
        public var isOptOutKind: Bool { self == .optOut || self == .optOutWithdrawn }
    }

    /// The trust that signed the record and (for a study) holds the study.
    public let origin: TrustID
    /// The record's position in its origin's log: 1, 2, 3… without gaps.
    public let sequence: UInt64
    /// What the record announces.
    public let kind: Kind
    /// The patient.
    public let nhsNumber: NHSNumber
    /// The DICOM StudyInstanceUID (0020,000D); `nil` for an opt-out.
    public let studyUID: String?
    /// The DICOM StudyDate (0008,0020) as written, `YYYYMMDD`.
    public let studyDate: String?
    /// The modalities in the study (ModalitiesInStudy or the series' Modality), e.g. `["CT", "SR"]`.
    public let modalities: [String]
    /// The body parts examined (BodyPartExamined of the series), e.g. `["CHEST"]`.
    public let bodyParts: [String]
    /// The DICOM StudyDescription (0008,1030).
    public let studyDescription: String?
    /// The DICOM AccessionNumber (0008,0050) at the origin.
    public let accessionNumber: String?
    /// How many series the origin holds.
    public let seriesCount: Int
    /// How many instances (DICOM files) the origin holds.
    public let instanceCount: Int
    /// The total size of the instances, in bytes, before compression.
    public let sizeBytes: Int
    /// The hash of the study's manifest: the identity of its content.
    public let manifestHash: Digest256?
    /// When the origin signed the record: ISO-8601 in UTC, e.g. `2026-03-14T09:26:53Z`.
    public let issuedAt: String
    /// For an opt-out or its withdrawal: who recorded it, the patient's expression of the wish and the
    /// care relationship relied on. `nil` in every other record, and in version 1 opt-outs (signed
    /// before statements existed), which still verify.
    public let statement: OptOutStatement?
    /// The origin's Ed25519 signature of ``signedBytes``.
    public let signature: Signature

    /// Assembles a record from its fields and a signature, without checking the signature.
    ///
    /// For reading records back from storage; anything from outside must go through
    /// ``verify(with:)`` before it is believed.
    /// - Parameters:
    ///   - draft: Every signed field.
    ///   - signature: The origin's signature of `draft.signedBytes`.
    public init(draft: Draft, signature: Signature) {
        origin = draft.origin
        sequence = draft.sequence
        kind = draft.kind
        nhsNumber = draft.nhsNumber
        studyUID = draft.studyUID
        studyDate = draft.studyDate
        modalities = draft.modalities
        bodyParts = draft.bodyParts
        studyDescription = draft.studyDescription
        accessionNumber = draft.accessionNumber
        seriesCount = draft.seriesCount
        instanceCount = draft.instanceCount
        sizeBytes = draft.sizeBytes
        manifestHash = draft.manifestHash
        issuedAt = draft.issuedAt
        statement = draft.statement
        self.signature = signature
    }

    /// The signed fields, without the signature: edit a copy and sign it to make a new record.
    public var draft: Draft {
        Draft(
            origin: origin, sequence: sequence, kind: kind, nhsNumber: nhsNumber, studyUID: studyUID,
            studyDate: studyDate, modalities: modalities, bodyParts: bodyParts,
            studyDescription: studyDescription, accessionNumber: accessionNumber, seriesCount: seriesCount,
            instanceCount: instanceCount, sizeBytes: sizeBytes, manifestHash: manifestHash, issuedAt: issuedAt,
            statement: statement)
    }

    /// The canonical encoding of every field except ``signature``: what the signature covers.
    ///
    /// See ``Draft/signedBytes`` for the field order.
    public var signedBytes: [UInt8] { draft.signedBytes }

    /// Checks that ``signature`` is `key`'s signature of ``signedBytes``.
    ///
    /// Pass the pinned key of ``origin``, never a key the sender supplied: a relay cannot then alter
    /// any field, or forge a record in another trust's name.
    /// - Parameter key: The origin's pinned Ed25519 key.
    /// - Throws: ``CryptoError/badSignature`` if any field was altered or another key signed it. There
    ///   is no `Bool` form, on purpose.
    public func verify(with key: VerifyingKey) throws(CryptoError) {
        try key.verify(signature, for: signedBytes)
    }
}

extension IndexRecord {
    /// The signed fields of an ``IndexRecord``, before signing.
    ///
    /// ```swift
    /// var draft = record.draft
    /// draft.sequence = nextSequence
    /// draft.instanceCount += 12
    /// let update = draft.signed(by: nodeKey)
    /// ```
    public struct Draft: Sendable, Hashable {
        /// The signing trust.
        public var origin: TrustID
        /// The next sequence number of the origin's log.
        public var sequence: UInt64
        /// What the record announces.
        public var kind: Kind
        /// The patient.
        public var nhsNumber: NHSNumber
        /// The StudyInstanceUID; `nil` for an opt-out.
        public var studyUID: String?
        /// The StudyDate, `YYYYMMDD`.
        public var studyDate: String?
        /// The modalities in the study.
        public var modalities: [String]
        /// The body parts examined.
        public var bodyParts: [String]
        /// The StudyDescription.
        public var studyDescription: String?
        /// The AccessionNumber at the origin.
        public var accessionNumber: String?
        /// How many series the origin holds.
        public var seriesCount: Int
        /// How many instances the origin holds.
        public var instanceCount: Int
        /// The total size of the instances, in bytes.
        public var sizeBytes: Int
        /// The hash of the study's manifest.
        public var manifestHash: Digest256?
        /// When the origin signs: ISO-8601 in UTC, e.g. `2026-03-14T09:26:53Z`.
        public var issuedAt: String
        /// For an opt-out or its withdrawal, the statement; its presence makes the record version 2.
        public var statement: OptOutStatement?

        /// Creates the fields of a record; optional fields default to absent and counts to zero.
        /// - Parameters:
        ///   - origin: The signing trust.
        ///   - sequence: The next sequence number of the origin's log (the first is 1).
        ///   - kind: What the record announces.
        ///   - nhsNumber: The patient.
        ///   - studyUID: The StudyInstanceUID; `nil` for an opt-out.
        ///   - studyDate: The StudyDate, `YYYYMMDD`.
        ///   - modalities: The modalities in the study.
        ///   - bodyParts: The body parts examined.
        ///   - studyDescription: The StudyDescription.
        ///   - accessionNumber: The AccessionNumber at the origin.
        ///   - seriesCount: How many series the origin holds.
        ///   - instanceCount: How many instances the origin holds.
        ///   - sizeBytes: The total size of the instances, in bytes.
        ///   - manifestHash: The hash of the study's manifest.
        ///   - issuedAt: The signing time, ISO-8601 in UTC.
        ///   - statement: For an opt-out or its withdrawal: who recorded it and why (version 2).
        public init(
            origin: TrustID, sequence: UInt64, kind: Kind, nhsNumber: NHSNumber, studyUID: String? = nil,
            studyDate: String? = nil, modalities: [String] = [], bodyParts: [String] = [],
            studyDescription: String? = nil, accessionNumber: String? = nil, seriesCount: Int = 0,
            instanceCount: Int = 0, sizeBytes: Int = 0, manifestHash: Digest256? = nil, issuedAt: String,
            statement: OptOutStatement? = nil
        ) {
            self.origin = origin
            self.sequence = sequence
            self.kind = kind
            self.nhsNumber = nhsNumber
            self.studyUID = studyUID
            self.studyDate = studyDate
            self.modalities = modalities
            self.bodyParts = bodyParts
            self.studyDescription = studyDescription
            self.accessionNumber = accessionNumber
            self.seriesCount = seriesCount
            self.instanceCount = instanceCount
            self.sizeBytes = sizeBytes
            self.manifestHash = manifestHash
            self.issuedAt = issuedAt
            self.statement = statement
        }

        /// The domain-separation string of index records, version 1: every record without a
        /// ``statement``.
        public static let domain = "TrustMesh/IndexRecord/v1"
        /// The domain-separation string of version 2: a record with a ``statement`` (an opt-out or
        /// its withdrawal). The domains differ, so bytes signed as one version never verify as the
        /// other.
        public static let domainV2 = "TrustMesh/IndexRecord/v2"

        /// The canonical encoding of the fields: what the origin signs.
        ///
        /// ``domain`` and `0x00`, then, in this order and in ``CanonicalEncoder``'s forms:
        ///
        /// | # | field | form |
        /// |---|---|---|
        /// | 1 | `origin` | String (the upper-case ODS code) |
        /// | 2 | `sequence` | UInt64 |
        /// | 3 | `kind` | String: `study`, `withdrawn`, `optOut` or `optOutWithdrawn` |
        /// | 4 | `nhsNumber` | String: the 10 digits, no spaces |
        /// | 5 | `studyUID` | Optional String |
        /// | 6 | `studyDate` | Optional String |
        /// | 7 | `modalities` | Array of String |
        /// | 8 | `bodyParts` | Array of String |
        /// | 9 | `studyDescription` | Optional String |
        /// | 10 | `accessionNumber` | Optional String |
        /// | 11 | `seriesCount` | Int (8 bytes) |
        /// | 12 | `instanceCount` | Int (8 bytes) |
        /// | 13 | `sizeBytes` | Int (8 bytes) |
        /// | 14 | `manifestHash` | Optional raw bytes (`00 00 00 20` + 32 bytes) |
        /// | 15 | `issuedAt` | String |
        ///
        /// A record with a ``statement`` (version 2) starts with ``domainV2`` instead and appends, after
        /// field 15: 16 `statement.recordedBy` String; 17 `statement.recorder` Optional of, in order,
        /// `issuer`, `subject`, `name`, `roleCode`, `organisation` Strings and `registration` Optional
        /// String (as in a care relationship's `clinicianIdentity`); 18 `statement.expression` String;
        /// 19 `statement.care` Optional of the care relationship's own canonical bytes as raw bytes,
        /// then its signature's 64 bytes as raw bytes. A record without one is version 1, byte for byte
        /// as before, so records signed before version 2 still verify.
        ///
        /// The JSON form carries exactly these values (the NHS number as its 10 digits, the manifest
        /// hash as 64 lowercase hex digits, the signature as padded base64), so a verifier rebuilds this
        /// message from the JSON and checks it with `crypto_sign_verify_detached`.
        public var signedBytes: [UInt8] {
            var encoder = CanonicalEncoder(domain: statement == nil ? Self.domain : Self.domainV2)
            encoder.append(origin.code)
            encoder.append(sequence)
            encoder.append(kind.rawValue)
            encoder.append(nhsNumber.digits)
            encoder.append(optional: studyUID)
            encoder.append(optional: studyDate)
            encoder.append(modalities)
            encoder.append(bodyParts)
            encoder.append(optional: studyDescription)
            encoder.append(optional: accessionNumber)
            encoder.append(seriesCount)
            encoder.append(instanceCount)
            encoder.append(sizeBytes)
            encoder.append(optional: manifestHash)
            encoder.append(issuedAt)
            if let statement {
                encoder.append(statement.recordedBy)
                encoder.appendPresence(statement.recorder != nil)
                if let person = statement.recorder { encoder.append(person) }
                encoder.append(statement.expression)
                encoder.appendPresence(statement.care != nil)
                if let care = statement.care {
                    encoder.append(bytes: care.signedBytes)
                    encoder.append(bytes: care.signature.rawBytes)
                }
            }
            return encoder.bytes
        }

        /// Signs the fields with the origin's key.
        ///
        /// Ed25519 is deterministic: the same fields and key always give the same record.
        /// - Parameter key: The origin's signing key; ``origin`` must be the trust that owns it, or no
        ///   receiver will accept the record.
        /// - Returns: The signed record.
        public func signed(by key: SigningKey) -> IndexRecord {
            IndexRecord(draft: self, signature: key.sign(signedBytes))
        }
    }
}

/// What an opt-out record (or its withdrawal) says beyond the patient: who recorded it, where the
/// patient's wish is written down, and the care relationship the origin relies on to record it.
///
/// Signed as part of the record (version 2; see ``IndexRecord/Draft/signedBytes``). The record's
/// signature therefore covers the care relationship too: a receiver that verified the record with
/// the origin's pinned key knows the origin presented this relationship.
public struct OptOutStatement: Sendable, Codable, Hashable {
    /// Who recorded it, for display: the signed-in person's name, or the system (for a local
    /// operator: `operating-system user NAME (local operator)`).
    public var recordedBy: String
    /// The signed-in person who recorded it; `nil` for a local operator or a system.
    public var recorder: Person?
    /// A reference to the patient's expression of the wish (a form, a letter, a note in the record),
    /// e.g. `Opt-out form OPT-2026-0042, scanned to the EPR`: trimmed, 1 to 200 characters.
    public var expression: String
    /// The origin's current care relationship for the patient that entitles it to record this, when it
    /// holds no imaging for them; `nil` when it relies on imaging it announced.
    public var care: CareRelationship?

    /// A statement.
    /// - Parameters:
    ///   - recordedBy: Who recorded it, for display.
    ///   - recorder: The signed-in person, if a person did.
    ///   - expression: Where the patient's wish is written down.
    ///   - care: The care relationship relied on, if any.
    public init(recordedBy: String, recorder: Person?, expression: String, care: CareRelationship?) {
        self.recordedBy = recordedBy
        self.recorder = recorder
        self.expression = expression
        self.care = care
    }

    /// The first field not in its documented form, and why; `nil` if all are.
    public var formProblem: String? {
        let trimmed = { (text: String) in text.trimmingCharacters(in: .whitespacesAndNewlines) == text }
        if !trimmed(recordedBy) || !(1...200).contains(recordedBy.count) {
            return "recordedBy must be trimmed, 1 to 200 characters"
        }
        if !trimmed(expression) || !(1...200).contains(expression.count) {
            return "the reference to the patient's expression of the wish must be trimmed, 1 to 200 characters"
        }
        if let recorder {
            if let problem = recorder.formProblem { return problem }
            if recorder.name != recordedBy { return "recordedBy is not the recorder's name" }
        }
        return nil
    }
}
