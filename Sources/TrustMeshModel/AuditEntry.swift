public import TrustMeshCrypto

/// One event in a node's append-only audit log, hash-chained to the entry before it and signed by
/// the node.
///
/// Each trust's log numbers its entries 1, 2, 3… without gaps (``sequence``). An entry's ``hash``
/// is BLAKE2b-256 of its canonical encoding (``Draft/canonicalBytes(sequence:previousHash:)``),
/// which includes ``previousHash``, the hash of the entry before it (32 zero bytes for entry 1), so
/// changing, removing or reordering any entry breaks every link after it. The node's Ed25519 key
/// signs the same canonical bytes. The entries are also the leaves of a Merkle tree
/// (``MerkleTree``); signed tree heads (``SignedTreeHead``) that peers keep pin it, so even the
/// node's own operator, who holds the key, cannot rewrite or truncate history without the peers'
/// heads exposing it.
///
/// The byte layout is specified in `docs/AUDIT-FORMAT.md`, precisely enough to verify a log in
/// another language; `TrustMeshAudit`'s `AuditChain` verifies whole logs.
///
/// ```swift
/// let draft = AuditEntry.Draft(
///     trust: try TrustID("RRK"), time: CareTime.format(Date()), kind: .fetchServed, actor: "RQ3",
///     subject: [.nhsNumber: nhs.digits, .studyUID: uid, .peer: "RQ3", .transferID: id],
///     details: String(decoding: try JSONEncoder().encode(care), as: UTF8.self))
/// let entry = draft.sealed(previous: head, key: nodeKey)
/// ```
public struct AuditEntry: Sendable, Hashable {
    /// The trust whose node keeps the log and signs its entries.
    public let trust: TrustID
    /// The entry's position in its trust's log: 1, 2, 3… without gaps.
    public let sequence: UInt64
    /// When the event happened: ISO-8601 UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ`.
    public let time: String
    /// What happened (an open set; see ``Kind``).
    public let kind: Kind
    /// Who did it: a person's display name, or a system's name (`node`, `gossip`, `peer RRK`, a DICOM
    /// AE, a local operator). Entries written since issue 13 say which in the subject
    /// (``SubjectKey/actorKind`` and the other `actor…` keys; see ``Actor``).
    public let actor: String
    /// What it concerned, as key/value pairs (see ``SubjectKey`` for the well-known keys).
    ///
    /// The canonical encoding orders the pairs by the UTF-8 bytes of their keys, so the hash does
    /// not depend on how a dictionary or a JSON object happened to order them.
    public let subject: [SubjectKey: String]
    /// Kind-specific detail, such as the care relationship's JSON for a share decision.
    public let details: String?
    /// The ``hash`` of the entry before this one; 32 zero bytes for entry 1.
    public let previousHash: Digest256
    /// BLAKE2b-256 of the canonical encoding of every field above.
    public let hash: Digest256
    /// The node's Ed25519 signature of the same canonical encoding.
    public let signature: Signature

    /// Assembles an entry from stored or received fields, without checking anything.
    ///
    /// For reading entries back; anything from outside must go through `AuditChain.verify` first.
    /// - Parameters:
    ///   - draft: The event's fields.
    ///   - sequence: Its position in the log.
    ///   - previousHash: The hash of the entry before it.
    ///   - hash: The hash as stored (which verification recomputes and compares).
    ///   - signature: The signature as stored.
    public init(draft: Draft, sequence: UInt64, previousHash: Digest256, hash: Digest256, signature: Signature) {
        trust = draft.trust
        self.sequence = sequence
        time = draft.time
        kind = draft.kind
        actor = draft.actor
        subject = draft.subject
        details = draft.details
        self.previousHash = previousHash
        self.hash = hash
        self.signature = signature
    }

    /// The event's fields, without the chain fields.
    public var draft: Draft {
        Draft(trust: trust, time: time, kind: kind, actor: actor, subject: subject, details: details)
    }

    /// The canonical encoding of every field except ``hash`` and ``signature``: what both cover.
    public var canonicalBytes: [UInt8] { draft.canonicalBytes(sequence: sequence, previousHash: previousHash) }

    /// The value of a subject key, if present.
    public subscript(key: SubjectKey) -> String? { subject[key] }

    /// The previous hash of entry 1: 32 zero bytes.
    public static let zeroHash: Digest256 = try! Digest256(rawBytes: [UInt8](repeating: 0, count: 32))
}

extension AuditEntry {
    /// The fields of an event before it takes its place in the chain.
    public struct Draft: Sendable, Hashable {
        /// The trust whose node keeps the log.
        public var trust: TrustID
        /// When the event happened, `YYYY-MM-DDTHH:MM:SSZ` (see ``CareTime/format(_:)``).
        public var time: String
        /// What happened.
        public var kind: Kind
        /// Who did it: a person's display name or a system's name (see ``AuditEntry/actor``).
        public var actor: String
        /// What it concerned.
        public var subject: [SubjectKey: String]
        /// Kind-specific detail, such as a care relationship's JSON.
        public var details: String?

        /// Creates an event's fields.
        /// - Parameters:
        ///   - trust: The trust whose node keeps the log.
        ///   - time: When it happened, `YYYY-MM-DDTHH:MM:SSZ`.
        ///   - kind: What happened.
        ///   - actor: Who did it.
        ///   - subject: What it concerned.
        ///   - details: Kind-specific detail.
        public init(
            trust: TrustID, time: String, kind: Kind, actor: String, subject: [SubjectKey: String] = [:],
            details: String? = nil
        ) {
            self.trust = trust
            self.time = time
            self.kind = kind
            self.actor = actor
            self.subject = subject
            self.details = details
        }

        /// The domain-separation string of audit entries, version 1.
        public static let domain = "TrustMesh/AuditEntry/v1"

        /// The canonical encoding of an entry: what its hash and its signature cover.
        ///
        /// ``domain`` and `0x00`, then, in ``CanonicalEncoder``'s forms:
        ///
        /// | # | field | form |
        /// |---|---|---|
        /// | 1 | `trust` | String (the upper-case ODS code) |
        /// | 2 | `sequence` | UInt64 |
        /// | 3 | `time` | String |
        /// | 4 | `kind` | String |
        /// | 5 | `actor` | String |
        /// | 6 | `subject` | Array of String: key, value, key, value… in ascending order of the keys' UTF-8 bytes |
        /// | 7 | `details` | Optional String |
        /// | 8 | `previousHash` | Raw bytes (`00 00 00 20` + 32 bytes) |
        ///
        /// The hash is BLAKE2b-256 of these bytes and the signature is Ed25519 over the same bytes;
        /// `docs/AUDIT-FORMAT.md` has a worked example.
        /// - Parameters:
        ///   - sequence: The entry's position in the log.
        ///   - previousHash: The hash of the entry before it (``AuditEntry/zeroHash`` for entry 1).
        /// - Returns: The message.
        public func canonicalBytes(sequence: UInt64, previousHash: Digest256) -> [UInt8] {
            var encoder = CanonicalEncoder(domain: Self.domain)
            encoder.append(trust.code)
            encoder.append(sequence)
            encoder.append(time)
            encoder.append(kind.rawValue)
            encoder.append(actor)
            let pairs = subject.map { ($0.key.rawValue, $0.value) }.sorted {
                $0.0.utf8.lexicographicallyPrecedes($1.0.utf8)
            }
            encoder.append(pairs.flatMap { [$0.0, $0.1] })
            encoder.append(optional: details)
            encoder.append(previousHash)
            return encoder.bytes
        }

        /// Takes the place after `previous` in the chain: the next sequence number, the link to
        /// `previous`'s hash, the hash and the signature.
        ///
        /// Ed25519 is deterministic: the same draft, head and key always give the same entry.
        /// - Parameters:
        ///   - previous: The log's head, or `nil` for the first entry. It must be an entry of ``trust``.
        ///   - key: The node's signing key.
        /// - Returns: The sealed entry.
        public func sealed(previous: AuditEntry?, key: SigningKey) -> AuditEntry {
            let sequence = (previous?.sequence ?? 0) + 1
            let previousHash = previous?.hash ?? AuditEntry.zeroHash
            let message = canonicalBytes(sequence: sequence, previousHash: previousHash)
            return AuditEntry(
                draft: self, sequence: sequence, previousHash: previousHash, hash: BLAKE2b256.hash(message),
                signature: key.sign(message))
        }
    }
}

extension AuditEntry {
    /// What an entry records. An open set: a verifier accepts kinds it does not know, and the
    /// replay ignores them.
    ///
    /// The documented kinds (`docs/AUDIT-FORMAT.md` lists their subjects and details) are the static
    /// members; their raw values are stable and never renamed.
    public struct Kind: RawRepresentable, Sendable, Hashable, Codable, ExpressibleByStringLiteral,
        CustomStringConvertible
    {
        /// The kind's name, e.g. `fetchServed`.
        public let rawValue: String

        /// A kind by name.
        /// - Parameter rawValue: The name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A kind by name, from a literal.
        /// - Parameter value: The name.
        public init(stringLiteral value: String) { rawValue = value }

        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        /// The node started.
        public static let nodeStarted: Kind = "nodeStarted"
        /// The node stopped (gracefully).
        public static let nodeStopped: Kind = "nodeStopped"
        /// A study was ingested or grew: subject `studyUID`, `nhsNumber`.
        public static let ingest: Kind = "ingest"
        /// A file or instance offered for ingest (CLI, C-STORE, STOW-RS) was refused: details the
        /// reason, naming the file or the instance.
        public static let ingestRefused: Kind = "ingestRefused"
        /// An ingest stopped because the node failed (a full disk, a catalogue error): details the
        /// cause. What was stored before it is whole and audited as `ingest`.
        public static let ingestFailed: Kind = "ingestFailed"
        /// The trust's operator corrected an instance of a held study (other bytes under its SOP
        /// Instance UID): subject `studyUID`, `sopInstanceUID`; details the old and new manifest
        /// hashes. The study's index record is republished.
        public static let instanceCorrected: Kind = "instanceCorrected"
        /// An IHE IOCM rejection note was applied at this node, the study's origin: subject `studyUID`,
        /// `nhsNumber`, `sopInstanceUID` (the note), `instances` (how many were removed); details the
        /// code and its meaning. The study is withdrawn from the index, or re-announced when only some
        /// instances were rejected.
        public static let studyRejected: Kind = "studyRejected"
        /// A copy held here was hidden because its origin withdrew or corrected the study: subject
        /// `studyUID`, `nhsNumber`, `origin`, `recordSequence`, `recordKind`; details the note shown
        /// in its place.
        public static let copyMarked: Kind = "copyMarked"
        /// The DICOM listener refused an association or a request (C-STORE refusals are
        /// `ingestRefused`): subject `peer` (its address); details the operation, status and reason.
        public static let dicomRefused: Kind = "dicomRefused"
        /// A hospital feed (HL7 v2 over MLLP) told the node something it accepted (acknowledged AA),
        /// audited before the acknowledgement: actor the feed (`HL7 v2 <MSH-3>^<MSH-4> from
        /// <address>`), subject `nhsNumber`, `peer` (the sender's address); details the event's JSON
        /// (its kind, reference, time, place, the clinician named as data, procedure, message ID and
        /// type). From the FHIR feed door: actor `FHIR R4 system <client id>` (the authenticated
        /// system), subject `nhsNumber`, details as above with the resource (`Appointment/ID`).
        public static let feedReceived: Kind = "feedReceived"
        /// A hospital feed's message answered AE or AR, or its connection refused before a byte was
        /// read (an address not on the allow-list, too many connections; aggregated per address):
        /// subject `peer` (the address), `rule` (`AE`, `AR` or `connection`); details the fault as the
        /// acknowledgement names it. From the FHIR feed door: actor the authenticated system, subject
        /// `rule` (the HTTP status); details the route and each OperationOutcome issue.
        public static let feedRefused: Kind = "feedRefused"
        /// This node published an index record: subject `origin`, `recordSequence`, `recordKind`,
        /// `nhsNumber`, `studyUID`.
        public static let recordPublished: Kind = "recordPublished"
        /// A verified index record arrived from a peer: the same subject as ``recordPublished``.
        public static let recordReceived: Kind = "recordReceived"
        /// A patient opted out at this trust: subject `nhsNumber`, `recordSequence`; details the
        /// reference to the patient's expression of the wish.
        public static let optOut: Kind = "optOut"
        /// A patient withdrew their opt-out at this trust: the same subject and details as ``optOut``.
        public static let optOutWithdrawn: Kind = "optOutWithdrawn"
        /// An opt-out record or withdrawal is not applied (its origin may not record one), or this
        /// trust was refused recording one: subject `nhsNumber`, `origin`, `recordKind`, `rule` (an
        /// `OptOutPolicy.Refusal`) and, for a received record, `recordSequence`; details why.
        public static let optOutRefused: Kind = "optOutRefused"
        /// A care relationship was recorded: subject `careID`, `nhsNumber`, `careKind`; details its
        /// JSON (with the reason, and the justification of an emergency).
        public static let careAdded: Kind = "careAdded"
        /// An information governance reviewer reviewed an emergency care relationship's use:
        /// subject `careID`, `careKind`, `nhsNumber` (when known), `peer` (the caring trust, when it is
        /// another); for an emergency push, `pushID`, `studyUID`, `peer`, `nhsNumber` instead; details
        /// the reviewer's note, if any.
        public static let emergencyReviewed: Kind = "emergencyReviewed"
        /// A clinician queried the federated index: subject `nhsNumber`.
        public static let query: Kind = "query"
        /// This trust asked a holder for a study: subject `peer`, `studyUID`, `nhsNumber`, `careID`,
        /// `careKind`; details the care relationship's JSON as presented.
        public static let fetchRequested: Kind = "fetchRequested"
        /// This trust shared a study: subject `peer` (the requester), `studyUID`, `nhsNumber`,
        /// `transferID`, `careID`, `careKind`, `expiryEffective` (the expiry the policy applied) and,
        /// when the policy cut the stated expiry, `expiryStated` (`none` if none was stated); details
        /// the care relationship's JSON as presented.
        public static let fetchServed: Kind = "fetchServed"
        /// Instances of a study held here sent to a local client (DICOMweb WADO-RS or metadata, a
        /// DICOM C-MOVE), audited before the first byte leaves.
        public static let retrieve: Kind = "retrieve"
        /// This trust refused to share: subject `peer`, `studyUID`, `rule`, and `careID`, `careKind`
        /// (and the `expiry…` keys when the policy capped its expiry) when a care relationship was
        /// presented; details the care relationship's JSON if one was presented.
        public static let fetchRefused: Kind = "fetchRefused"
        /// A fetch this trust made completed: subject `peer` (the holder), `studyUID`, `transferID`,
        /// `bytes`, `chunks`.
        public static let fetchCompleted: Kind = "fetchCompleted"
        /// A fetch this trust made was given up: subject `peer`, `studyUID`, `transferID` if one was
        /// opened, `rule` if the holder refused.
        public static let fetchAbandoned: Kind = "fetchAbandoned"
        /// A request from a peer was refused before any policy decision (bad signature, replay…):
        /// subject `peer`, `rule`.
        public static let peerRefused: Kind = "peerRefused"
        /// Version 1 logs only (signed tree heads replaced checkpoints, and are never entries): this
        /// node signed a checkpoint (actor `node`), or accepted a newer checkpoint from a peer (actor
        /// the peer's ODS code): subject `peer`, `sequence`, `headHash`; details the checkpoint's JSON.
        public static let checkpoint: Kind = "checkpoint"
        /// The node's signing key changed: this entry is the first signed with the new key; details
        /// the previous key, padded base64.
        public static let keyChanged: Kind = "keyChanged"
        /// A person (or system) saw a study held here on the page, audited before the page or
        /// picture leaves: subject `nhsNumber` (when the study has one), `studyUID`, and
        /// `sopInstanceUID` when a thumbnail opened the entry; details `study page` or `thumbnail`.
        /// One entry per study page view; a thumbnail writes one only when the same actor (and
        /// session) has no `view` of that study in the last 15 minutes, and its entry then covers
        /// their thumbnails of the study for the next 15 (docs/ARCHITECTURE.md, "The audit log").
        public static let view: Kind = "view"
        /// A held study was written to a folder by `trustmesh export` (actor the local operator),
        /// audited before the first file is written: subject `nhsNumber` (when the study has one),
        /// `studyUID`, `instances`, `bytes`; details the output folder's absolute path.
        public static let export: Kind = "export"
        /// `trustmesh audit export` wrote this node's log to a file (actor the local operator),
        /// audited before the file is written: subject `format` (`jsonl`, `fhir` or `dicom`) and
        /// `entries` (how many, this one included); details the output file's absolute path.
        public static let auditExported: Kind = "auditExported"
        /// `trustmesh audit prove` wrote a proof that an entry is in this log (actor the local
        /// operator), audited before the proof is written: subject `sequence` (the entry proved) and
        /// `destination` (`file` or `standard output`); details the output file's path, if any.
        public static let auditProofWritten: Kind = "auditProofWritten"
        /// This node found two signed tree heads of one trust's audit log that no append-only log can
        /// produce (equivocation): subject `peer` (the trust that signed both), `rule`
        /// (`equivocation`), `treeSize` (of the contradicting head); details `{"reason", "held",
        /// "other"}` with both heads.
        public static let treeHeadConflict: Kind = "treeHeadConflict"
        /// Someone read this node's audit trail on the page (`/audit`), audited before it is shown:
        /// subject `nhsNumber` when the trail was filtered to a patient; details the filters.
        public static let auditViewed: Kind = "auditViewed"
        /// This node holds two statements signed by one trust that cannot both be true (two index
        /// records with one origin and sequence, two membership documents with one version, two key
        /// certificates with one serial): subject `peer` (the signer), `rule` (`indexRecord`,
        /// `membership` or `certificate`), and `recordSequence`, `version` or `serial`; details
        /// `{"reason", "held", "other"}` with both. The trust's new records are held until an
        /// operator resolves it.
        public static let equivocation: Kind = "equivocation"
        /// An operator resolved an equivocation (actor the operator): subject `peer`, `rule`;
        /// details the operator's note.
        public static let equivocationResolved: Kind = "equivocationResolved"
        /// A key certificate took effect here: this node's own new keys (`trustmesh keys rotate`,
        /// actor the local operator) or a peer's, received by gossip (actor `network gossip`):
        /// subject `peer` (the trust), `serial`; details the certificate's JSON.
        public static let keyCertified: Kind = "keyCertified"
        /// A key revocation took effect here: subject `peer` (the trust), `rule` (`retired` or
        /// `compromised`), `serial` (of the revoked key's certificate, when known); details the
        /// revocation's JSON.
        public static let keyRevoked: Kind = "keyRevoked"
        /// A newer membership document took effect here: subject `version`; details what changed
        /// (trusts joined, left, moved; roots replaced; threshold).
        public static let membershipChanged: Kind = "membershipChanged"
        /// A clinician of this trust pushed a study held here to another trust (an emergency push),
        /// audited before the push leaves: actor the clinician, subject `peer` (the receiving trust),
        /// `studyUID`, `nhsNumber`, `pushID`; details the signed push grant's
        /// JSON (the named clinician there and the reason).
        public static let studyPushed: Kind = "studyPushed"
        /// This trust accepted a study another trust pushed to it: actor `peer <ODS>` (the holder),
        /// subject `peer`, `studyUID`, `nhsNumber`, `pushID`; details the push grant's JSON.
        public static let pushReceived: Kind = "pushReceived"
        /// A push was refused: at the receiver (actor `peer <ODS>`) or at the holder when its
        /// clinician's push could not leave or the receiver refused it (actor the clinician): subject
        /// `peer`, `studyUID`, `pushID` (when a grant was made), `rule` (a push rule); details why.
        public static let pushRefused: Kind = "pushRefused"
    }

    /// A key of an entry's ``AuditEntry/subject``: ASCII letters and digits.
    ///
    /// The well-known keys are the static members; others may be used, and verifiers carry them
    /// through unchanged.
    public struct SubjectKey: RawRepresentable, Sendable, Hashable, Comparable, ExpressibleByStringLiteral,
        CustomStringConvertible
    {
        /// The key's name.
        public let rawValue: String

        /// A key by name.
        /// - Parameter rawValue: The name: 1 to 64 ASCII letters and digits.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A key by name, from a literal.
        /// - Parameter value: The name.
        public init(stringLiteral value: String) { rawValue = value }

        public var description: String { rawValue }

        public static func < (lhs: SubjectKey, rhs: SubjectKey) -> Bool {
            lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
        }

        /// Whether the name is 1 to 64 ASCII letters and digits, as the JSON decoder requires.
        public var isWellFormed: Bool {
            (1...64).contains(rawValue.utf8.count)
                && rawValue.utf8.allSatisfy {
                    (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0)
                }
        }

        /// The patient's NHS number, 10 digits.
        public static let nhsNumber: SubjectKey = "nhsNumber"
        /// A DICOM StudyInstanceUID.
        public static let studyUID: SubjectKey = "studyUID"
        /// The other trust involved, by ODS code.
        public static let peer: SubjectKey = "peer"
        /// A policy rule (`TrustMeshPolicy.PolicyRule` raw value) or refusal code.
        public static let rule: SubjectKey = "rule"
        /// The holder's id for a transfer, which both sides log.
        public static let transferID: SubjectKey = "transferID"
        /// A byte count, in decimal.
        public static let bytes: SubjectKey = "bytes"
        /// A chunk count, in decimal.
        public static let chunks: SubjectKey = "chunks"
        /// A care relationship's id.
        public static let careID: SubjectKey = "careID"
        /// An index record's origin trust.
        public static let origin: SubjectKey = "origin"
        /// An index record's sequence number, in decimal.
        public static let recordSequence: SubjectKey = "recordSequence"
        /// An index record's kind: `study`, `withdrawn`, `optOut` or `optOutWithdrawn`.
        public static let recordKind: SubjectKey = "recordKind"
        /// A checkpoint's sequence number, in decimal.
        public static let sequence: SubjectKey = "sequence"
        /// A checkpoint's head hash, 64 hex digits.
        public static let headHash: SubjectKey = "headHash"
        /// A signed tree head's size (entries covered), in decimal.
        public static let treeSize: SubjectKey = "treeSize"
        /// A DICOM SeriesInstanceUID, when one series was named.
        public static let seriesUID: SubjectKey = "seriesUID"
        /// A DICOM SOPInstanceUID, when one instance was named.
        public static let sopInstanceUID: SubjectKey = "sopInstanceUID"
        /// An instance count, in decimal.
        public static let instances: SubjectKey = "instances"
        /// What a retrieve sent: `metadata` when only the attributes left.
        public static let metadata: SubjectKey = "metadata"
        /// Who acted: `person` (a signed-in person; the other `actor…` keys name them) or `system`.
        public static let actorKind: SubjectKey = "actorKind"
        /// The acting person's identity provider (`iss`).
        public static let actorIssuer: SubjectKey = "actorIssuer"
        /// The acting person's identifier at that provider (`sub`).
        public static let actorSubject: SubjectKey = "actorSubject"
        /// The acting person's role code, e.g. `S8000:G8000:R8000`.
        public static let actorRole: SubjectKey = "actorRole"
        /// The ODS code of the trust at which the acting person holds the role.
        public static let actorOrganisation: SubjectKey = "actorOrganisation"
        /// The acting person's professional registration, when known.
        public static let actorRegistration: SubjectKey = "actorRegistration"
        /// The short, non-secret handle of the session the person acted in (never the cookie).
        public static let session: SubjectKey = "session"
        /// A care relationship's kind: `referral`, `admission`, `outpatient`, `emergency` or `mdt`.
        public static let careKind: SubjectKey = "careKind"
        /// The expiry a care relationship states, or `none`; recorded when the policy cut it.
        public static let expiryStated: SubjectKey = "expiryStated"
        /// The expiry the policy applied: the earlier of the stated one and the cap for its kind.
        public static let expiryEffective: SubjectKey = "expiryEffective"
        /// An export's format: `jsonl`, `fhir` or `dicom`.
        public static let format: SubjectKey = "format"
        /// An entry count, in decimal.
        public static let entries: SubjectKey = "entries"
        /// A key certificate's serial, in decimal.
        public static let serial: SubjectKey = "serial"
        /// An emergency push's id (its grant's), which both trusts log.
        public static let pushID: SubjectKey = "pushID"
        /// A membership document's version, in decimal.
        public static let version: SubjectKey = "version"
    }
}

extension AuditEntry: Codable {
    private enum CodingKeys: String, CodingKey {
        case trust, sequence, time, kind, actor, subject, details, previousHash, hash, signature
    }

    /// Decodes an entry's JSON form: `subject` is a JSON object of strings.
    ///
    /// Nothing is verified here (see `AuditChain.verify`).
    /// - Throws: `DecodingError.dataCorrupted` if a subject key is not 1 to 64 ASCII letters and digits.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try container.decodeIfPresent([String: String].self, forKey: .subject) ?? [:]
        var subject: [SubjectKey: String] = [:]
        for (key, value) in raw {
            let subjectKey = SubjectKey(rawValue: key)
            guard subjectKey.isWellFormed else {
                throw DecodingError.dataCorruptedError(
                    forKey: .subject, in: container,
                    debugDescription: "subject key is not 1 to 64 ASCII letters and digits")
            }
            subject[subjectKey] = value
        }
        let draft = Draft(
            trust: try container.decode(TrustID.self, forKey: .trust),
            time: try container.decode(String.self, forKey: .time),
            kind: try container.decode(Kind.self, forKey: .kind),
            actor: try container.decode(String.self, forKey: .actor), subject: subject,
            details: try container.decodeIfPresent(String.self, forKey: .details))
        self.init(
            draft: draft, sequence: try container.decode(UInt64.self, forKey: .sequence),
            previousHash: try container.decode(Digest256.self, forKey: .previousHash),
            hash: try container.decode(Digest256.self, forKey: .hash),
            signature: try container.decode(Signature.self, forKey: .signature))
    }

    /// Encodes the JSON form; `details` is omitted when absent.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(trust, forKey: .trust)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(time, forKey: .time)
        try container.encode(kind, forKey: .kind)
        try container.encode(actor, forKey: .actor)
        try container.encode(
            Dictionary(uniqueKeysWithValues: subject.map { ($0.key.rawValue, $0.value) }), forKey: .subject)
        try container.encodeIfPresent(details, forKey: .details)
        try container.encode(previousHash, forKey: .previousHash)
        try container.encode(hash, forKey: .hash)
        try container.encode(signature, forKey: .signature)
    }
}
