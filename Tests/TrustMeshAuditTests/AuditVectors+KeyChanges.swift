import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel

/// The key-change vectors of `docs/audit-vectors.json` (`keyChanges`, AUDIT-FORMAT.md §9): RRK's
/// node key rotated (certificate #2) and revoked, RQ3 joining in membership version 2, and logs,
/// tree heads and network files whose verdicts every verifier must reproduce. Fixed seeds and
/// times, so the file is the same on every run.
extension AuditVectors {
    struct KeyChanges: Codable, Equatable {
        var about: String
        var keys: [NamedKey]
        /// Each signed statement: its JSON (as in a network file), the exact bytes signed, and who signed.
        var statements: [Statement]
        /// Network files (`NetworkDirectory.State` as JSON), by name.
        var networks: [NamedText]
        /// Files verified together with a network file (and, when given, a topology).
        var verdicts: [KeyVerdict]
    }

    struct NamedKey: Codable, Equatable {
        var name: String
        var seed: String
        var publicKey: String
    }

    struct Statement: Codable, Equatable {
        var name: String
        /// `membership`, `certificate` or `revocation`.
        var kind: String
        var json: String
        var signedMessage: String
        /// The public keys whose signatures the statement carries, in its order.
        var signedBy: [String]
    }

    struct NamedText: Codable, Equatable {
        var name: String
        var text: String
    }

    struct KeyVerdict: Codable, Equatable {
        var name: String
        var why: String
        /// The network file's name (in ``KeyChanges/networks``), or nil for a topology alone.
        var network: String?
        /// A topology's text, when the verdict is with one.
        var topology: String?
        var files: [VerdictFile]
    }

    /// RRK's root; RRK's node key after the rotation; RQ3's root (RQ3's node key is `rq3Key`).
    static let rrkRoot = try! SigningKey(seed: Array(repeating: 3, count: 32))
    static let rotatedKey = try! SigningKey(seed: Array(repeating: 2, count: 32))
    static let rq3Root = try! SigningKey(seed: Array(repeating: 4, count: 32))
    static let rq3Key = try! SigningKey(seed: Array(33...64))
    static let mallory = try! SigningKey(seed: Array(repeating: 7, count: 32))
    static let rq3 = try! TrustID("RQ3")

    static func agreement(_ byte: UInt8) -> AgreementPublicKey {
        try! AgreementPublicKey(rawBytes: Array(repeating: byte, count: 32))
    }

    static func time(_ text: String) -> String { "2026-11-25T" + text + "Z" }

    static func compact(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    /// Every statement of the vectors, built once.
    struct KeyStatements {
        let version1: SignedMembership
        let version2: SignedMembership
        /// Version 2 signed by RQ3's root only: not by version 1's threshold.
        let unsignedVersion2: SignedMembership
        let first: KeyCertificate
        let second: KeyCertificate
        let rq3First: KeyCertificate
        /// Mallory's key "certified" for RRK, naming RRK's root but signed by Mallory.
        let forged: KeyCertificate
        /// RRK's first key, compromised since 09:02:30, revoked by RRK's root.
        let compromised: KeyRevocation
        /// RRK's first key, retired since 10:00 by the key itself.
        let retired: KeyRevocation
        /// A revocation of RRK's first key naming RRK's root but signed by Mallory: not believed.
        let bogus: KeyRevocation

        init() {
            let rrkMember = Membership.Member(
                ods: rrk, name: "RRK", address: "127.0.0.1:7401", root: rrkRoot.verifyingKey)
            let rq3Member = Membership.Member(
                ods: rq3, name: "RQ3", address: "127.0.0.1:7402", root: rq3Root.verifyingKey)
            var one = SignedMembership(
                Membership(
                    network: "Audit vectors", version: 1, threshold: 1, members: [rrkMember],
                    issuedAt: time("08:00:00")))
            one.sign(as: rrk, root: rrkRoot)
            version1 = one
            let two = Membership(
                network: "Audit vectors", version: 2, threshold: 2, members: [rrkMember, rq3Member],
                policy: #"{"maxCareRecordsPerPersonPerDay":20}"#, issuedAt: time("08:30:00"))
            var signedTwo = SignedMembership(two)
            signedTwo.sign(as: rrk, root: rrkRoot)
            signedTwo.sign(as: rq3, root: rq3Root)
            version2 = signedTwo
            var alone = SignedMembership(
                Membership(
                    network: "Audit vectors", version: 2, threshold: 1, members: [rrkMember, rq3Member],
                    issuedAt: time("08:30:00")))
            alone.sign(as: rq3, root: rq3Root)
            unsignedVersion2 = alone
            first = KeyCertificate.issue(
                trust: rrk, serial: 1, signingKey: key.verifyingKey, agreementKey: agreement(5),
                notBefore: time("08:00:00"), notAfter: "2027-11-25T08:00:00Z", root: rrkRoot)
            second = KeyCertificate.issue(
                trust: rrk, serial: 2, signingKey: rotatedKey.verifyingKey, agreementKey: agreement(6),
                notBefore: time("09:55:00"), notAfter: "2027-11-25T09:55:00Z", root: rrkRoot)
            rq3First = KeyCertificate.issue(
                trust: rq3, serial: 1, signingKey: rq3Key.verifyingKey, agreementKey: agreement(8),
                notBefore: time("08:30:00"), notAfter: "2027-11-25T08:30:00Z", root: rq3Root)
            // Claims RRK's root, signed by Mallory.
            let claimed = KeyCertificate.issue(
                trust: rrk, serial: 3, signingKey: mallory.verifyingKey, agreementKey: agreement(7),
                notBefore: time("08:00:00"), notAfter: "2027-11-25T08:00:00Z", root: rrkRoot)
            forged = KeyCertificate(
                trust: rrk, serial: 3, signingKey: mallory.verifyingKey, agreementKey: agreement(7),
                notBefore: claimed.notBefore, notAfter: claimed.notAfter, root: rrkRoot.verifyingKey,
                signature: mallory.sign(claimed.signedBytes))
            compromised = KeyRevocation.sign(
                trust: rrk, key: key.verifyingKey, reason: .compromised, since: time("09:02:30"),
                issuedAt: time("10:30:00"), by: rrkRoot)
            retired = KeyRevocation.sign(
                trust: rrk, key: key.verifyingKey, reason: .retired, since: time("10:00:00"),
                issuedAt: time("10:00:00"), by: key)
            // Claims RRK's root, signed by Mallory.
            let claimedRevocation = KeyRevocation.sign(
                trust: rrk, key: key.verifyingKey, reason: .compromised, since: time("09:00:00"),
                issuedAt: time("10:30:00"), by: rrkRoot)
            bogus = KeyRevocation(
                trust: rrk, key: key.verifyingKey, reason: .compromised, since: claimedRevocation.since,
                issuedAt: claimedRevocation.issuedAt, signer: rrkRoot.verifyingKey,
                signature: mallory.sign(claimedRevocation.signedBytes))
        }

        /// The network files of the verdicts.
        var networks: [(String, NetworkDirectory.State)] {
            let base = NetworkDirectory.State(
                memberships: [version1, version2], certificates: [first, second, rq3First])
            func with(_ revocations: [KeyRevocation] = [], certificates: [KeyCertificate] = [])
                -> NetworkDirectory.State
            {
                NetworkDirectory.State(
                    memberships: base.memberships, certificates: base.certificates + certificates,
                    revocations: revocations)
            }
            return [
                ("rotated", base),
                ("compromised", with([compromised])),
                ("retired", with([retired])),
                ("bogus revocation", with([bogus])),
                ("forged certificate", with(certificates: [forged])),
                (
                    "version 2 not signed by version 1's threshold",
                    NetworkDirectory.State(
                        memberships: [version1, unsignedVersion2], certificates: [first, second, rq3First])
                ),
            ]
        }
    }

    /// RRK's log across the rotation: #1–#4 signed with the first key (09:00–09:03), #5 `keyChanged`
    /// (10:00) and #6–#8 with the second.
    static func rotationLog(_ statements: KeyStatements) -> [AuditEntry] {
        var chain = AuditChain(trust: rrk)
        let system: [AuditEntry.SubjectKey: String] = [.actorKind: "system"]
        let operatorSubject: [AuditEntry.SubjectKey: String] = [.actorKind: "system"]
        let steps: [(String, AuditEntry.Kind, [AuditEntry.SubjectKey: String], String?, SigningKey)] = [
            ("09:00:00", .nodeStarted, system, nil, key),
            ("09:01:00", .query, system.merging([.nhsNumber: "9434765919"]) { a, _ in a }, nil, key),
            (
                "09:02:00", .ingest, system.merging([.studyUID: "1.2.3.4", .nhsNumber: "9434765919"]) { a, _ in a },
                nil, key
            ),
            ("09:03:00", .query, system.merging([.nhsNumber: "4010232137"]) { a, _ in a }, nil, key),
            ("10:00:00", .keyChanged, operatorSubject, key.verifyingKey.base64, rotatedKey),
            (
                "10:01:00", .keyCertified, operatorSubject.merging([.peer: "RRK", .serial: "2"]) { a, _ in a },
                compact(statements.second), rotatedKey
            ),
            ("10:02:00", .query, system.merging([.nhsNumber: "9434765919"]) { a, _ in a }, nil, rotatedKey),
            ("10:03:00", .nodeStopped, system, nil, rotatedKey),
        ]
        return steps.map { step in
            let actor = step.1 == .keyChanged || step.1 == .keyCertified ? "local operator" : "node"
            return try! chain.append(
                AuditEntry.Draft(
                    trust: rrk, time: time(step.0), kind: step.1, actor: actor, subject: step.2, details: step.3),
                key: step.4)
        }
    }

    static func keyChanges() throws -> KeyChanges {
        let statements = KeyStatements()
        let log = rotationLog(statements)
        let lines = try log.map { line(try AuditExport.line($0)) }
        func text(_ lines: [String]) -> String { lines.joined(separator: "\n") + "\n" }
        let tree = Self.tree(log)
        func head(_ size: UInt64, at clock: String, key: SigningKey) -> String {
            let root = try! tree.root(size: size)
            return treeHeadLine(
                SignedTreeHead.signed(trust: rrk, treeSize: size, rootHash: root, time: time(clock), key: key))
        }
        // RQ3's own short log, certified in membership version 2.
        var rq3Chain = AuditChain(trust: rq3)
        let rq3Lines = try ["09:10:00", "09:11:00"].enumerated().map { index, clock in
            line(
                try AuditExport.line(
                    try rq3Chain.append(
                        AuditEntry.Draft(
                            trust: rq3, time: time(clock), kind: index == 0 ? .nodeStarted : .query, actor: "node",
                            subject: [.actorKind: "system"]), key: rq3Key)))
        }
        let heldHeads = [head(4, at: "09:04:00", key: key), head(8, at: "10:04:00", key: rotatedKey)]
        let rq3File = VerdictFile(name: "rq3.jsonl", text: text(rq3Lines + heldHeads), verdict: "OK")
        let rrkFile = VerdictFile(name: "rrk.jsonl", text: text(lines), verdict: "OK")
        func logFile(_ lines: [String], _ verdict: String) -> VerdictFile {
            VerdictFile(name: "rrk.jsonl", text: text(lines), verdict: verdict)
        }
        func topology(_ key: SigningKey) -> String {
            #"{"name": "Audit vectors", "trusts": [{"ods": "RRK", "name": "RRK", "address": "127.0.0.1:7401", "signingKey": ""#
                + key.verifyingKey.base64 + #""}]}"#
        }
        // An entry dated before RRK's first certificate.
        var early = AuditChain(trust: rrk)
        let earlyLine = line(
            try AuditExport.line(
                try early.append(
                    AuditEntry.Draft(
                        trust: rrk, time: time("07:59:59"), kind: .nodeStarted, actor: "node",
                        subject: [.actorKind: "system"]), key: key)))
        var forgedChain = AuditChain(trust: rrk)
        let forgedLine = line(
            try AuditExport.line(
                try forgedChain.append(
                    AuditEntry.Draft(
                        trust: rrk, time: time("09:00:00"), kind: .nodeStarted, actor: "node",
                        subject: [.actorKind: "system"]), key: mallory)))
        let verdicts = [
            KeyVerdict(
                name: "rotation, with the network", why: "#1–#4 signed with certificate #1's key, #5 onwards with #2's",
                network: "rotated", files: [rrkFile, rq3File]),
            KeyVerdict(
                name: "rotation, with a stale topology",
                why: "the topology still pins the first key: the keyChanged entry does not verify with it",
                topology: topology(key), files: [logFile(lines, "RRK #5: bad signature")]),
            KeyVerdict(
                name: "rotation, with the current topology",
                why: "the keyChanged entry, signed with the pinned key, hands over to the first key",
                topology: topology(rotatedKey), files: [rrkFile]),
            KeyVerdict(
                name: "compromised since 09:02:30",
                why: "#3 (09:02:00) was signed before the compromise, #4 (09:03:00) after: refused",
                network: "compromised", files: [logFile(lines, "RRK #4: revoked key")]),
            KeyVerdict(
                name: "signed before the compromise", why: "#1–#3 predate the revocation's since: still valid",
                network: "compromised", files: [logFile(Array(lines.prefix(3)), "OK")]),
            KeyVerdict(
                name: "a tree head signed after the compromise",
                why: "the log's #1–#3 stand, but a head of them signed with the first key at 09:10 is refused",
                network: "compromised",
                files: [
                    logFile(Array(lines.prefix(3)), "RRK #3: bad tree head"),
                    VerdictFile(
                        name: "rq3.jsonl", text: head(3, at: "09:10:00", key: key) + "\n", verdict: "OK"),
                ]),
            KeyVerdict(
                name: "retired by the key itself at the rotation",
                why: "a self-revocation since 10:00: every entry the first key signed is earlier",
                network: "retired", files: [rrkFile, rq3File]),
            KeyVerdict(
                name: "a revocation not signed by the trust's root",
                why: "a revocation naming RRK's root but signed by Mallory is not believed",
                network: "bogus revocation",
                files: [rrkFile]),
            KeyVerdict(
                name: "a tree head after the overlap",
                why: "the first key is valid until certificate #2's notBefore (09:55) plus 600 s: 10:10 is after",
                network: "rotated",
                files: [
                    logFile(lines, "RRK #4: bad tree head"),
                    VerdictFile(name: "rq3.jsonl", text: head(4, at: "10:10:00", key: key) + "\n", verdict: "OK"),
                ]),
            KeyVerdict(
                name: "an entry before its key's certificate",
                why: "certificate #1 starts at 08:00:00; the entry says 07:59:59", network: "rotated",
                files: [logFile([earlyLine], "RRK #1: key not valid")]),
            KeyVerdict(
                name: "a certificate not signed by the trust's root",
                why: "a certificate naming RRK's root but signed by Mallory is not believed: her entry is refused",
                network: "forged certificate", files: [logFile([forgedLine], "RRK #1: bad signature")]),
            KeyVerdict(
                name: "a membership version without the previous threshold",
                why: "version 2, signed by RQ3's root alone, is not believed: RQ3 is no member, its log has no key",
                network: "version 2 not signed by version 1's threshold",
                files: [
                    VerdictFile(name: "rq3.jsonl", text: text(rq3Lines), verdict: "RQ3: unknown trust"), rrkFile,
                ]),
        ]
        func statement(_ name: String, _ kind: String, _ value: some Encodable, _ bytes: [UInt8], _ by: [VerifyingKey])
            -> Statement
        {
            Statement(
                name: name, kind: kind, json: compact(value), signedMessage: hex(bytes), signedBy: by.map(\.base64))
        }
        let s = statements
        return KeyChanges(
            about: "AUDIT-FORMAT.md §9: RRK's node key rotated (certificate #2, keyChanged at #5) and revoked; "
                + "RQ3 joins in membership version 2. Network files are NetworkDirectory.State as JSON.",
            keys: [
                ("RRK's first node key (key.seed)", Array(1...32), key),
                ("RRK's second node key", Array(repeating: 2, count: 32), rotatedKey),
                ("RRK's root", Array(repeating: 3, count: 32), rrkRoot),
                ("RQ3's root", Array(repeating: 4, count: 32), rq3Root),
                ("RQ3's node key", Array(33...64), rq3Key),
                ("Mallory", Array(repeating: 7, count: 32), mallory),
            ].map { NamedKey(name: $0.0, seed: hex($0.1), publicKey: $0.2.verifyingKey.base64) },
            statements: [
                statement(
                    "membership version 1", "membership", s.version1, s.version1.membership.signedBytes,
                    [rrkRoot.verifyingKey]),
                statement(
                    "membership version 2", "membership", s.version2, s.version2.membership.signedBytes,
                    [rq3Root.verifyingKey, rrkRoot.verifyingKey]),
                statement("RRK certificate #1", "certificate", s.first, s.first.signedBytes, [rrkRoot.verifyingKey]),
                statement("RRK certificate #2", "certificate", s.second, s.second.signedBytes, [rrkRoot.verifyingKey]),
                statement(
                    "RQ3 certificate #1", "certificate", s.rq3First, s.rq3First.signedBytes, [rq3Root.verifyingKey]),
                statement(
                    "RRK's first key compromised", "revocation", s.compromised, s.compromised.signedBytes,
                    [rrkRoot.verifyingKey]),
                statement(
                    "RRK's first key retired", "revocation", s.retired, s.retired.signedBytes, [key.verifyingKey]),
            ],
            networks: statements.networks.map { NamedText(name: $0.0, text: compact($0.1)) },
            verdicts: verdicts)
    }
}
