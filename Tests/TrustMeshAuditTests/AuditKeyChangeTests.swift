import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel

/// Verifying logs across a rotation and a revocation with a network's signed statements
/// (`AuditKeys(network:)`), against the test vectors' keys and statements (AuditVectors+KeyChanges).
@Suite struct AuditKeyChangeTests {
    typealias V = AuditVectors
    typealias F = Fixtures

    static let statements = V.KeyStatements()
    static let log = V.rotationLog(statements)

    /// A directory from version 1 pinned, then `state` merged.
    static func keys(
        _ revocations: [KeyRevocation] = [], extra: [KeyCertificate] = [], pinned: [TrustID: VerifyingKey] = [:]
    ) throws -> AuditKeys {
        let s = statements
        let directory = try NetworkDirectory(pinned: s.version1)
        _ = directory.merge(
            NetworkDirectory.State(
                memberships: [s.version2], certificates: [s.first, s.second, s.rq3First] + extra,
                revocations: revocations))
        return AuditKeys(network: directory, pinned: pinned)
    }

    static func head(_ size: UInt64, at clock: String, key: SigningKey, of entries: [AuditEntry] = log) -> HeldTreeHead
    {
        HeldTreeHead(
            heldBy: F.rq3,
            treeHead: SignedTreeHead.signed(
                trust: V.rrk, treeSize: size, rootHash: try! V.tree(entries).root(size: size), time: V.time(clock),
                key: key))
    }

    @Test func aLogAcrossARotationVerifiesWithTheNetworkAndFailsWithAStaleTopology() throws {
        let log = try AuditChain.verify(Self.log, keys: try Self.keys())
        #expect(log.entries.count == 8)
        // A head of #1–#4 signed with the first key at 09:04, one of all 8 with the second at 10:04.
        try log.check(Self.head(4, at: "09:04:00", key: V.key).treeHead, heldBy: F.rq3)
        try log.check(Self.head(8, at: "10:04:00", key: V.rotatedKey).treeHead, heldBy: F.rq3)

        let stale = F.failure { _ = try AuditChain.verify(Self.log, key: V.key.verifyingKey) }
        #expect(stale == .badSignature(trust: V.rrk, sequence: 5))
        // The current key and the keyChanged walk still work without a network.
        _ = try AuditChain.verify(Self.log, key: V.rotatedKey.verifyingKey)
        // With both, the network decides for RRK: the stale topology key does not matter.
        _ = try AuditChain.verify(Self.log, keys: try Self.keys(pinned: [V.rrk: V.key.verifyingKey]))
    }

    @Test func anEntrySignedAfterACompromiseIsRefusedNamingTheRevocationAndOneBeforeStands() throws {
        let revocation = Self.statements.compromised
        let error = F.failure { _ = try AuditChain.verify(Self.log, keys: try Self.keys([revocation])) }
        #expect(error == .revokedKey(trust: V.rrk, sequence: 4, revocation: revocation, serial: 1))
        #expect(error?.check == "revoked key")
        #expect(
            error?.description.hasPrefix(
                "RRK #4: revoked key: signed by RRK's key \(V.key.verifyingKey.base64.prefix(12))… (certificate #1), "
                    + "revoked as compromised since 2026-11-25T09:02:30Z by RRK's root") == true,
            "\(error?.description ?? "")")
        // #1–#3 were signed before `since`: they verify alone.
        _ = try AuditChain.verify(Array(Self.log.prefix(3)), keys: try Self.keys([revocation]))

        // The replay names every entry signed after `since`, and keeps the rest.
        let earlier = KeyRevocation.sign(
            trust: V.rrk, key: V.key.verifyingKey, reason: .compromised, since: V.time("09:00:30"),
            issuedAt: V.time("10:30:00"), by: V.rrkRoot)
        let report = AuditReplay.run(
            exports: [AuditExport(entries: Self.log)], keys: try Self.keys([revocation, earlier]))
        #expect(report.findings.map(\.kind) == [.revokedKey, .revokedKey, .revokedKey])
        #expect(report.findings.map(\.sequence) == [2, 3, 4])
        #expect(report.findings.allSatisfy { $0.message.contains("revoked as compromised since 2026-11-25T09:00:30Z") })
        #expect(report.timeline.map(\.sequence) == [1, 5, 6, 7, 8])
    }

    @Test func aKeyOutsideItsCertificateIsNotValidAndHeadsAreCheckedAtTheirOwnTime() throws {
        let keys = try Self.keys()
        // Before certificate #1's notBefore (08:00).
        var early = AuditChain(trust: V.rrk)
        let first = try early.append(
            AuditEntry.Draft(trust: V.rrk, time: V.time("07:59:59"), kind: .nodeStarted, actor: "node"), key: V.key)
        let error = F.failure { _ = try AuditChain.verify([first], keys: keys) }
        #expect(error?.check == "key not valid")
        #expect(error?.description.contains("valid 2026-11-25T08:00:00Z to 2027-11-25T08:00:00Z") == true)

        // The first key signs a head at 10:10, after #2's notBefore (09:55) plus the overlap.
        let log = try AuditChain.verify(Self.log, keys: keys)
        let late = Self.head(4, at: "10:10:00", key: V.key)
        let refused = F.failure { try log.check(late.treeHead, heldBy: F.rq3) }
        #expect(refused?.check == "bad tree head")
        #expect(
            refused?.description.contains("superseded by #2, accepted until 2026-11-25T10:05:00Z") == true,
            "\(refused?.description ?? "")")
        let verification = AuditVerification(
            exports: [AuditExport(entries: Self.log), AuditExport(entries: [], treeHeads: [late])], keys: keys)
        #expect(verification.files[0].failure?.check == "bad tree head")

        // A checkpoint the first key signed after its compromise is refused; one before is not.
        let revoked = try AuditChain.verify(
            Array(Self.log.prefix(3)), keys: try Self.keys([Self.statements.compromised]))
        let before = AuditCheckpoint.signed(
            trust: V.rrk, sequence: 2, headHash: Self.log[1].hash, time: V.time("09:02:00"), key: V.key)
        try revoked.check(before, heldBy: F.rq3)
        let after = AuditCheckpoint.signed(
            trust: V.rrk, sequence: 2, headHash: Self.log[1].hash, time: V.time("09:05:00"), key: V.key)
        let bad = F.failure { try revoked.check(after, heldBy: F.rq3) }
        #expect(bad?.check == "bad checkpoint")
        #expect(bad?.description.contains("revoked as compromised since 2026-11-25T09:02:30Z") == true)
    }

    @Test func statementsNotSignedByTheRootAreNotBelievedAndOtherTrustsUseTheTopology() throws {
        // A revocation and a certificate naming RRK's root, signed by Mallory.
        let keys = try Self.keys([Self.statements.bogus], extra: [Self.statements.forged], pinned: F.keys)
        _ = try AuditChain.verify(Self.log, keys: keys)
        let mallory = F.log(V.rrk, count: 1, key: V.mallory)
        #expect(
            F.failure { _ = try AuditChain.verify(mallory, keys: keys) } == .badSignature(trust: V.rrk, sequence: 1))
        // RXK is no member: the topology's key checks its log; without it, it is unknown.
        _ = try AuditChain.verify(F.log(F.rxk, count: 3), keys: keys)
        let unknown = F.failure { _ = try AuditChain.verify(F.log(F.rxk, count: 3), keys: try Self.keys()) }
        #expect(unknown == .unknownTrust(F.rxk))
    }

    @Test func theReplayChecksACareRelationshipWithTheRequestersKeyWhenItStarted() throws {
        func served(_ care: CareRelationship) throws -> [AuditFinding] {
            var chain = AuditChain(trust: V.rrk, head: Self.log.last)
            let entry = try chain.append(
                AuditEntry.Draft(
                    trust: V.rrk, time: V.time("10:04:00"), kind: .fetchServed, actor: "peer RQ3",
                    subject: [.peer: "RQ3", .studyUID: F.study, .nhsNumber: F.patient.digits],
                    details: F.json(care)), key: V.rotatedKey)
            return AuditReplay.run(exports: [AuditExport(entries: Self.log + [entry])], keys: try Self.keys())
                .findings.filter { $0.kind == .servedWithoutValidCare }
        }
        // Signed by RQ3's certified key, starting 09:10 (its certificate runs from 08:30).
        #expect(try served(F.care(signer: V.rq3Key, start: 10)) == [])
        // Signed by a key RQ3's root never certified.
        let forged = try served(F.care(signer: V.mallory, start: 10))
        #expect(forged.map(\.rule) == ["careSignedByAnotherTrust"])
    }
}
