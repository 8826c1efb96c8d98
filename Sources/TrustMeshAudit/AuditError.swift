import Foundation
public import TrustMeshCrypto
public import TrustMeshModel

/// Why an audit log, export or checkpoint failed verification: which trust, which entry, and what
/// failed.
///
/// A struct with a private code, so that adding a check breaks no caller. ``description`` reads
/// `RRK #42: bad hash: …`; ``trust``, ``sequence`` and ``check`` give the same facts to code.
/// Compare with `==` against the static constructors. No description contains an NHS number or any
/// other subject value of an entry: only trust codes, sequence numbers, hash prefixes and kinds.
///
/// ```swift
/// do {
///     _ = try AuditChain.verify(entries, key: pinnedKey)
/// } catch {
///     print(error)   // RRK #42: sequence gap: entry #41 is missing (expected #41, found #42)
/// }
/// ```
public struct AuditError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Sendable, Equatable {
        case badHash(computed: Digest256, recorded: Digest256)
        case badSignature
        case brokenLink(previous: Digest256?)
        case sequenceGap(expected: UInt64)
        case outOfOrder(expected: UInt64)
        case duplicate
        case wrongTrust(found: TrustID)
        case malformedTime(String)
        case badKeyChange
        case revokedKey(String)
        case keyNotValid(String)
        case truncated(logEnd: UInt64, heldBy: TrustID?)
        case rewritten(logHash: Digest256, checkpointHash: Digest256, heldBy: TrustID?)
        case badCheckpoint(heldBy: TrustID?, why: String?)
        case treeHeadTruncated(logEnd: UInt64, heldBy: TrustID?)
        case treeHeadRewritten(logRoot: Digest256, headRoot: Digest256, heldBy: TrustID?)
        case badTreeHead(heldBy: TrustID?, why: String?)
        case conflictingCopies
        case unknownTrust
        case malformed(line: Int, reason: String)
    }

    private let code: Code

    /// The trust whose log failed, when known.
    public let trust: TrustID?

    /// The entry (or checkpointed sequence) that failed, when the failure is about one.
    public let sequence: UInt64?

    private init(_ code: Code, trust: TrustID?, sequence: UInt64?) {
        self.code = code
        self.trust = trust
        self.sequence = sequence
    }

    /// The entry's fields do not hash to the hash it records: a field was edited.
    /// - Parameters:
    ///   - trust: The log's trust.
    ///   - sequence: The entry.
    ///   - computed: The hash of the entry's canonical encoding.
    ///   - recorded: The hash the entry carries.
    public static func badHash(trust: TrustID, sequence: UInt64, computed: Digest256, recorded: Digest256)
        -> AuditError
    {
        AuditError(.badHash(computed: computed, recorded: recorded), trust: trust, sequence: sequence)
    }

    /// The entry's signature does not verify with the trust's key.
    public static func badSignature(trust: TrustID, sequence: UInt64) -> AuditError {
        AuditError(.badSignature, trust: trust, sequence: sequence)
    }

    /// The entry's `previousHash` is not the hash of the entry before it (`previous`; `nil` when the
    /// entry is number 1 and should link to zero).
    public static func brokenLink(trust: TrustID, sequence: UInt64, previous: Digest256?) -> AuditError {
        AuditError(.brokenLink(previous: previous), trust: trust, sequence: sequence)
    }

    /// Entries are missing: `expected` came next, but `sequence` was found and `expected` does not
    /// appear at all.
    public static func sequenceGap(trust: TrustID, sequence: UInt64, expected: UInt64) -> AuditError {
        AuditError(.sequenceGap(expected: expected), trust: trust, sequence: sequence)
    }

    /// Entry `sequence` is not where it belongs: `expected` came next (and appears elsewhere).
    public static func outOfOrder(trust: TrustID, sequence: UInt64, expected: UInt64) -> AuditError {
        AuditError(.outOfOrder(expected: expected), trust: trust, sequence: sequence)
    }

    /// Entry `sequence` appears twice.
    public static func duplicate(trust: TrustID, sequence: UInt64) -> AuditError {
        AuditError(.duplicate, trust: trust, sequence: sequence)
    }

    /// An entry of another trust (`found`) sits in `trust`'s log: spliced in.
    public static func wrongTrust(trust: TrustID, sequence: UInt64, found: TrustID) -> AuditError {
        AuditError(.wrongTrust(found: found), trust: trust, sequence: sequence)
    }

    /// A signed entry whose time is not `YYYY-MM-DDTHH:MM:SSZ`.
    public static func malformedTime(trust: TrustID, sequence: UInt64, time: String) -> AuditError {
        AuditError(.malformedTime(String(time.prefix(32))), trust: trust, sequence: sequence)
    }

    /// A `keyChanged` entry whose details are not a signing key.
    public static func badKeyChange(trust: TrustID, sequence: UInt64) -> AuditError {
        AuditError(.badKeyChange, trust: trust, sequence: sequence)
    }

    /// The entry was signed with a key of the trust that a revocation covers at the entry's time
    /// (checked against a network file's statements): what the key signed from the revocation's
    /// `since` on is not believed, whoever made it.
    /// - Parameters:
    ///   - trust: The log's trust.
    ///   - sequence: The entry.
    ///   - revocation: The earliest revocation of the key dated at or before the entry.
    ///   - serial: The serial of the certificate that certified the key.
    public static func revokedKey(trust: TrustID, sequence: UInt64, revocation: KeyRevocation, serial: UInt64)
        -> AuditError
    {
        AuditError(.revokedKey(revokedWords(revocation, serial: serial)), trust: trust, sequence: sequence)
    }

    /// The entry was signed with a key the trust's root certified, but not for the entry's time:
    /// before its certificate's `notBefore`, after its `notAfter`, or after its successor's
    /// `notBefore` plus the overlap.
    /// - Parameters:
    ///   - trust: The log's trust.
    ///   - sequence: The entry.
    ///   - certificate: The certificate of the key that signed it.
    ///   - successor: The certificate after it (by serial), if any.
    ///   - overlapSeconds: How long a superseded key stays valid after its successor's `notBefore`.
    ///   - time: The entry's time.
    public static func keyNotValid(
        trust: TrustID, sequence: UInt64, certificate: KeyCertificate, successor: KeyCertificate?,
        overlapSeconds: Double, time: String
    ) -> AuditError {
        AuditError(
            .keyNotValid(notValidWords(certificate, successor: successor, overlap: overlapSeconds, time: time)),
            trust: trust,
            sequence: sequence)
    }

    /// "RRK's key ebVWLo/mVPlA… (certificate #1), revoked as compromised since T by RRK's root".
    static func revokedWords(_ revocation: KeyRevocation, serial: UInt64) -> String {
        "\(revocation.trust)'s key \(revocation.key.base64.prefix(12))… (certificate #\(serial)), revoked as "
            + "\(revocation.reason.rawValue) since \(revocation.since) by "
            + (revocation.isSelfRevocation ? "the key itself" : "\(revocation.trust)'s root")
            + " (revocation issued \(revocation.issuedAt))"
    }

    /// "RRK's key … (certificate #1, valid A to B; superseded by #2, accepted until C), not valid at T".
    static func notValidWords(
        _ certificate: KeyCertificate, successor: KeyCertificate?, overlap: Double, time: String
    ) -> String {
        var period = "certificate #\(certificate.serial), valid \(certificate.notBefore) to \(certificate.notAfter)"
        if let successor, let start = Timestamp.date(successor.notBefore) {
            period += "; superseded by #\(successor.serial), accepted until \(Timestamp.text(start + overlap))"
        }
        return
            "\(certificate.trust)'s key \(certificate.signingKey.base64.prefix(12))… (\(period)), not valid at \(time)"
    }

    /// The log ends at `logEnd`, before the `sequence` a checkpoint signed by the trust pins.
    public static func truncated(trust: TrustID, sequence: UInt64, logEnd: UInt64, heldBy: TrustID?) -> AuditError {
        AuditError(.truncated(logEnd: logEnd, heldBy: heldBy), trust: trust, sequence: sequence)
    }

    /// The log's entry `sequence` hashes to `logHash`, but a checkpoint signed by the trust says
    /// `checkpointHash`: history was rewritten.
    public static func rewritten(
        trust: TrustID, sequence: UInt64, logHash: Digest256, checkpointHash: Digest256, heldBy: TrustID?
    ) -> AuditError {
        AuditError(
            .rewritten(logHash: logHash, checkpointHash: checkpointHash, heldBy: heldBy), trust: trust,
            sequence: sequence)
    }

    /// A checkpoint that claims to be `trust`'s is not signed by its key.
    public static func badCheckpoint(trust: TrustID, sequence: UInt64, heldBy: TrustID?) -> AuditError {
        AuditError(.badCheckpoint(heldBy: heldBy, why: nil), trust: trust, sequence: sequence)
    }

    /// A checkpoint signed with a key of the trust that was revoked, or not certified, at its time.
    static func badCheckpoint(trust: TrustID, sequence: UInt64, heldBy: TrustID?, why: String?) -> AuditError {
        AuditError(.badCheckpoint(heldBy: heldBy, why: why), trust: trust, sequence: sequence)
    }

    /// The log holds `logEnd` entries, fewer than the `treeSize` of a tree head signed by the trust:
    /// entries were removed from the end (named `truncated`, like a checkpoint's).
    public static func truncated(trust: TrustID, treeSize: UInt64, logEnd: UInt64, heldBy: TrustID?) -> AuditError {
        AuditError(.treeHeadTruncated(logEnd: logEnd, heldBy: heldBy), trust: trust, sequence: treeSize)
    }

    /// The Merkle tree of the log's first `treeSize` entries has root `logRoot`, but a tree head
    /// signed by the trust says `headRoot` (named `rewritten`, like a checkpoint's).
    public static func rewritten(
        trust: TrustID, treeSize: UInt64, logRoot: Digest256, headRoot: Digest256, heldBy: TrustID?
    ) -> AuditError {
        AuditError(
            .treeHeadRewritten(logRoot: logRoot, headRoot: headRoot, heldBy: heldBy), trust: trust, sequence: treeSize)
    }

    /// A tree head that claims to be `trust`'s is not signed by its key, or has size 0 or a malformed time.
    public static func badTreeHead(trust: TrustID, treeSize: UInt64, heldBy: TrustID?) -> AuditError {
        AuditError(.badTreeHead(heldBy: heldBy, why: nil), trust: trust, sequence: treeSize)
    }

    /// A tree head signed with a key of the trust that was revoked, or not certified, at its time.
    static func badTreeHead(trust: TrustID, treeSize: UInt64, heldBy: TrustID?, why: String?) -> AuditError {
        AuditError(.badTreeHead(heldBy: heldBy, why: why), trust: trust, sequence: treeSize)
    }

    /// Two exports of the same trust hold different entries at `sequence`: a fork.
    public static func conflictingCopies(trust: TrustID, sequence: UInt64) -> AuditError {
        AuditError(.conflictingCopies, trust: trust, sequence: sequence)
    }

    /// The topology pins no signing key for the trust.
    public static func unknownTrust(_ trust: TrustID) -> AuditError {
        AuditError(.unknownTrust, trust: trust, sequence: nil)
    }

    /// A line of an export is not a valid entry or checkpoint.
    /// - Parameters:
    ///   - line: The line number, from 1.
    ///   - reason: What is wrong; never the line's content.
    public static func malformed(line: Int, reason: String) -> AuditError {
        AuditError(.malformed(line: line, reason: reason), trust: nil, sequence: nil)
    }

    /// What failed, as a short stable name: `bad hash`, `bad signature`, `broken link`,
    /// `sequence gap`, `out of order`, `duplicate`, `wrong trust`, `malformed time`,
    /// `bad key change`, `revoked key`, `key not valid`, `truncated`, `rewritten`, `bad checkpoint`, `conflicting copies`,
    /// `unknown trust` or `malformed`.
    public var check: String {
        switch code {
        case .badHash: "bad hash"
        case .badSignature: "bad signature"
        case .brokenLink: "broken link"
        case .sequenceGap: "sequence gap"
        case .outOfOrder: "out of order"
        case .duplicate: "duplicate"
        case .wrongTrust: "wrong trust"
        case .malformedTime: "malformed time"
        case .badKeyChange: "bad key change"
        case .revokedKey: "revoked key"
        case .keyNotValid: "key not valid"
        case .truncated: "truncated"
        case .rewritten: "rewritten"
        case .badCheckpoint: "bad checkpoint"
        case .treeHeadTruncated: "truncated"
        case .treeHeadRewritten: "rewritten"
        case .badTreeHead: "bad tree head"
        case .conflictingCopies: "conflicting copies"
        case .unknownTrust: "unknown trust"
        case .malformed: "malformed"
        }
    }

    /// Whether the failure is about entries missing from the log (a gap), rather than entries that
    /// are wrong.
    public var isGap: Bool {
        if case .sequenceGap = code { return true }
        return false
    }

    /// Whether the entry was signed with a key revoked at its time (checked against a network's
    /// statements).
    public var isRevokedKey: Bool {
        if case .revokedKey = code { return true }
        return false
    }

    /// Whether the failure is a checkpoint disagreeing with the log (truncated, rewritten, or a
    /// checkpoint that is not the trust's).
    public var isCheckpointFailure: Bool {
        switch code {
        case .truncated, .rewritten, .badCheckpoint, .treeHeadTruncated, .treeHeadRewritten, .badTreeHead: true
        default: false
        }
    }

    /// Whether the entry itself cannot be believed (its hash or signature fails, or it belongs to
    /// another trust), as opposed to a correctly signed entry in the wrong place.
    public var isInauthentic: Bool {
        switch code {
        case .badHash, .badSignature, .wrongTrust, .revokedKey, .keyNotValid: true
        default: false
        }
    }

    /// `TRUST #SEQUENCE: check: explanation`.
    public var description: String {
        var where_ = trust.map(\.code) ?? ""
        if let sequence { where_ += (where_.isEmpty ? "#" : " #") + String(sequence) }
        let prefix = where_.isEmpty ? "" : where_ + ": "
        return prefix + check + ": " + explanation
    }

    private var explanation: String {
        let trustName = trust?.code ?? "the trust"
        func held(_ by: TrustID?) -> String { by.map { " held by \($0)" } ?? "" }
        switch code {
        case .badHash(let computed, let recorded):
            return "the entry's fields hash to \(short(computed)), not the \(short(recorded)) it records "
                + "(a field was edited)"
        case .badSignature:
            return "the entry is not signed by \(trustName)'s key (re-signed with another key, or altered)"
        case .brokenLink(let previous):
            guard let previous else { return "entry #1 must link to 32 zero bytes" }
            return "previousHash is not \(short(previous)), the hash of the entry before it "
                + "(an entry was removed, inserted or replaced)"
        case .sequenceGap(let expected):
            let last = (sequence ?? expected) - 1
            let missing = last == expected ? "entry #\(expected) is" : "entries #\(expected)–#\(last) are"
            return "\(missing) missing (expected #\(expected), found #\(sequence ?? 0))"
        case .outOfOrder(let expected):
            return "found where #\(expected) belongs (entries were reordered)"
        case .duplicate:
            return "the entry appears more than once"
        case .wrongTrust(let found):
            return "this entry belongs to \(found)'s log, not \(trustName)'s (spliced from another trust)"
        case .malformedTime(let time):
            return "time '\(time)' is not YYYY-MM-DDTHH:MM:SSZ"
        case .badKeyChange:
            return "a keyChanged entry's details must be the previous signing key in base64"
        case .revokedKey(let words):
            return "signed by \(words): what it signed from then on is not believed"
        case .keyNotValid(let words):
            return "signed by \(words)"
        case .truncated(let logEnd, let heldBy):
            return "the log ends at #\(logEnd), but \(trustName) signed a checkpoint at #\(sequence ?? 0)"
                + "\(held(heldBy)) (entries were removed from the end)"
        case .rewritten(let logHash, let checkpointHash, let heldBy):
            return "the entry's hash is \(short(logHash)), but \(trustName)'s checkpoint\(held(heldBy)) "
                + "says \(short(checkpointHash)) (history was rewritten)"
        case .badCheckpoint(let heldBy, let why):
            return "the checkpoint\(held(heldBy)) is not signed by \(trustName)'s key"
                + (why.map { " (signed by \($0))" } ?? "")
        case .treeHeadTruncated(let logEnd, let heldBy):
            return "the log ends at #\(logEnd), but \(trustName) signed a tree head of \(sequence ?? 0) entries"
                + "\(held(heldBy)) (entries were removed from the end)"
        case .treeHeadRewritten(let logRoot, let headRoot, let heldBy):
            return "the tree of the first \(sequence ?? 0) entries has root \(short(logRoot)), but \(trustName)'s "
                + "tree head\(held(heldBy)) says \(short(headRoot)) (history was rewritten)"
        case .badTreeHead(let heldBy, let why):
            return "the tree head\(held(heldBy)) is not signed by \(trustName)'s key, or is malformed"
                + (why.map { " (signed by \($0))" } ?? "")
        case .conflictingCopies:
            return "two copies of the log hold different entries here (a fork)"
        case .unknownTrust:
            return "the topology pins no signing key for \(trustName)"
        case .malformed(let line, let reason):
            return "line \(line): \(reason)"
        }
    }

    private func short(_ digest: Digest256) -> String { String(digest.hex.prefix(16)) + "…" }
}
