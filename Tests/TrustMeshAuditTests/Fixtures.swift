import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel

/// Keys, trusts and small logs shared by the audit tests. Keys come from fixed seeds, so every run
/// builds byte-identical logs.
enum Fixtures {
    static let rrk = try! TrustID("RRK")
    static let rq3 = try! TrustID("RQ3")
    static let rxk = try! TrustID("RXK")

    /// The key of the canonical-encoding test vectors: seed 01 02 … 20.
    static let rrkKey = try! SigningKey(seed: Array(1...32))
    static let rq3Key = try! SigningKey(seed: Array(33...64))
    static let rxkKey = try! SigningKey(seed: Array(65...96))
    /// A key no topology pins: what someone without the node's key would sign with.
    static let malloryKey = try! SigningKey(seed: Array(repeating: 7, count: 32))

    static let keys: [TrustID: VerifyingKey] = [
        rrk: rrkKey.verifyingKey, rq3: rq3Key.verifyingKey, rxk: rxkKey.verifyingKey,
    ]

    static func signingKey(_ trust: TrustID) -> SigningKey {
        switch trust {
        case rrk: rrkKey
        case rq3: rq3Key
        default: rxkKey
        }
    }

    static let patient = try! NHSNumber("9434765919")
    static let otherPatient = try! NHSNumber("4010232137")
    static let study = "1.2.826.0.1.3680043.10.999.1"

    /// 2026-11-25T09:00:00Z plus `minutes`.
    static func time(_ minutes: Int) -> String {
        CareTime.format(Date(timeIntervalSince1970: 1_795_597_200 + TimeInterval(minutes * 60)))
    }

    /// Dr Aisha Patel as `trust`'s identity provider signed her in.
    static func patel(at trust: TrustID = rq3) -> Person {
        Person(
            issuer: "https://idp.\(trust.code.lowercased()).example/oidc", subject: "910000000001",
            name: "Dr Aisha Patel", roleCode: "S8000:G8000:R8000", organisation: trust)
    }

    /// A care relationship signed by `trust`'s key (or `signer`), starting at minute `start`, recorded
    /// by Dr Aisha Patel of that trust (or by no verified clinician when `verified` is false).
    static func care(
        trust: TrustID = rq3, nhs: NHSNumber = patient, expiry: String? = time(24 * 60), signer: SigningKey? = nil,
        id: Int = 1, kind: CareRelationship.Kind = .admission, start: Int = 0, verified: Bool = true
    ) -> CareRelationship {
        CareRelationship.Draft(
            id: String(format: "00000000-0000-4000-8000-%012d", id), trust: trust, nhsNumber: nhs,
            clinician: verified ? "Dr Aisha Patel" : "operating-system user alice (local operator)",
            clinicianIdentity: verified ? patel(at: trust) : nil, kind: kind, reason: "Admitted with chest pain",
            start: time(start), expiry: expiry,
            justification: kind == .emergency ? "Unconscious on arrival; prior CT needed" : nil
        ).signed(by: signer ?? signingKey(trust))
    }

    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    /// A log of `count` simple entries of `trust`, one a minute.
    static func log(_ trust: TrustID = rrk, count: Int, key: SigningKey? = nil) -> [AuditEntry] {
        var chain = AuditChain(trust: trust)
        return (1...count).map { n in
            try! chain.append(
                AuditEntry.Draft(
                    trust: trust, time: time(n), kind: n == 1 ? .nodeStarted : .query, actor: "Dr \(n)",
                    subject: n == 1 ? [:] : [.nhsNumber: patient.digits]),
                key: key ?? signingKey(trust))
        }
    }

    /// Builds one trust's log event by event.
    struct LogBuilder {
        var chain: AuditChain
        var entries: [AuditEntry] = []
        let key: SigningKey

        init(_ trust: TrustID) {
            chain = AuditChain(trust: trust)
            key = Fixtures.signingKey(trust)
        }

        @discardableResult
        mutating func add(
            _ kind: AuditEntry.Kind, at minute: Int, actor: String = "node",
            _ subject: [AuditEntry.SubjectKey: String] = [:],
            details: String? = nil
        ) -> AuditEntry {
            let entry = try! chain.append(
                AuditEntry.Draft(
                    trust: chain.trust, time: Fixtures.time(minute), kind: kind, actor: actor, subject: subject,
                    details: details),
                key: key)
            entries.append(entry)
            return entry
        }

        func checkpoint(at minute: Int) -> AuditCheckpoint {
            chain.checkpoint(time: Fixtures.time(minute), key: key)!
        }

        /// A signed tree head of the whole log so far.
        func treeHead(at minute: Int) -> SignedTreeHead {
            var tree = MerkleTree.InMemory()
            for entry in entries { tree.append(MerkleTree.leafHash(entry.canonicalBytes)) }
            return SignedTreeHead.signed(
                trust: chain.trust, treeSize: tree.size, rootHash: try! tree.root(), time: Fixtures.time(minute),
                key: key)
        }

        var export: AuditExport { AuditExport(entries: entries) }
    }

    /// Rebuilds an entry with some fields changed, keeping its recorded hash and signature (an edit
    /// made in a text editor).
    static func edited(
        _ entry: AuditEntry, sequence: UInt64? = nil, _ change: (inout AuditEntry.Draft) -> Void
    ) -> AuditEntry {
        var draft = entry.draft
        change(&draft)
        return AuditEntry(
            draft: draft, sequence: sequence ?? entry.sequence, previousHash: entry.previousHash, hash: entry.hash,
            signature: entry.signature)
    }

    /// The same fields, re-hashed and re-signed with `key` in place (links unchanged).
    static func resigned(_ entry: AuditEntry, key: SigningKey) -> AuditEntry {
        let message = entry.canonicalBytes
        return AuditEntry(
            draft: entry.draft, sequence: entry.sequence, previousHash: entry.previousHash,
            hash: BLAKE2b256.hash(message), signature: key.sign(message))
    }

    /// The first error `body` throws, or `nil`.
    static func failure(_ body: () throws -> Void) -> AuditError? {
        do {
            try body()
            return nil
        } catch let error as AuditError {
            return error
        } catch {
            return nil
        }
    }
}
