import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel

/// Membership versions (TUF's rule), certificates, revocations, and the keys the directory
/// answers for a trust at a moment.
@Suite struct NetworkDirectoryTests {
    /// Four trusts with roots and node keys; threshold 3.
    struct Network {
        let codes = ["RAA", "RBB", "RCC", "RDD"].map { try! TrustID($0) }
        var roots: [TrustID: SigningKey] = [:]
        var nodes: [TrustID: SigningKey] = [:]
        let start = Date(timeIntervalSince1970: 1_800_000_000)

        init() {
            for code in codes {
                roots[code] = SigningKey()
                nodes[code] = SigningKey()
            }
        }

        func members(_ codes: [TrustID]) -> [Membership.Member] {
            codes.enumerated().map { index, code in
                Membership.Member(
                    ods: code, name: code.code, address: "127.0.0.1:\(7400 + index)", root: roots[code]!.verifyingKey)
            }
        }

        func document(version: UInt64, codes: [TrustID], threshold: Int = 3) -> Membership {
            Membership(
                network: "Test", version: version, threshold: threshold, members: members(codes),
                issuedAt: Timestamp.text(start))
        }

        func signed(_ membership: Membership, by signers: [TrustID], roots: [TrustID: SigningKey]? = nil)
            -> SignedMembership
        {
            var signed = SignedMembership(membership)
            for code in signers { signed.sign(as: code, root: (roots ?? self.roots)[code]!) }
            return signed
        }

        func certificate(
            _ trust: TrustID, serial: UInt64, key: SigningKey, from: Date, days: Double = 365, root: SigningKey? = nil
        ) -> KeyCertificate {
            KeyCertificate.issue(
                trust: trust, serial: serial, signingKey: key.verifyingKey, agreementKey: AgreementKey().publicKey,
                notBefore: Timestamp.text(from), notAfter: Timestamp.text(from + days * 86_400),
                root: root ?? roots[trust]!)
        }

        func directory() throws -> NetworkDirectory {
            let directory = try NetworkDirectory(
                pinned: signed(document(version: 1, codes: codes), by: codes), overlap: 600)
            for code in codes {
                #expect(directory.apply(certificate(code, serial: 1, key: nodes[code]!, from: start)) != .known)
            }
            return directory
        }
    }

    @Test func aPinnedDocumentNeedsItsOwnThreshold() throws {
        let network = Network()
        let document = network.document(version: 1, codes: network.codes)
        #expect(throws: ModelError.self) {
            try NetworkDirectory(pinned: network.signed(document, by: Array(network.codes.prefix(2))))
        }
        _ = try NetworkDirectory(pinned: network.signed(document, by: Array(network.codes.prefix(3))))
    }

    @Test func aNewVersionNeedsTheThresholdOfThePreviousMembers() throws {
        let network = Network()
        let directory = try network.directory()
        let newcomer = try TrustID("REE")
        var roots = network.roots
        roots[newcomer] = SigningKey()
        var members = network.members(network.codes)
        members.append(
            .init(ods: newcomer, name: "REE", address: "127.0.0.1:7499", root: roots[newcomer]!.verifyingKey))
        let next = Membership(
            network: "Test", version: 2, threshold: 3, members: members, issuedAt: Timestamp.text(network.start))
        // Two old members and the newcomer: the old threshold (3) is not met.
        guard
            case .refused(let why) = directory.apply(
                network.signed(next, by: network.codes.prefix(2) + [newcomer], roots: roots))
        else { Issue.record("accepted below threshold"); return }
        #expect(why.contains("2 of version 1's members"))
        #expect(directory.membership.version == 1)
        guard
            case .applied(let what) = directory.apply(
                network.signed(next, by: network.codes.prefix(3) + [newcomer], roots: roots))
        else { Issue.record("refused at threshold"); return }
        #expect(what.description.contains("joined: REE"))
        #expect(directory.members.contains(newcomer))
        // Skipping a version, or going back, is refused.
        #expect(
            directory.apply(network.signed(network.document(version: 4, codes: network.codes), by: network.codes))
                != .known)
        #expect(directory.membership.version == 2)
    }

    @Test func replacingARootNeedsTheOtherTrusts() throws {
        let network = Network()
        let directory = try network.directory()
        let victim = network.codes[0]
        var roots = network.roots
        roots[victim] = SigningKey()
        var next = network.document(version: 2, codes: network.codes)
        next.members[0].root = roots[victim]!.verifyingKey
        // The victim's old root (perhaps the thief) and two others: only two count.
        var signed = network.signed(next, by: Array(network.codes.prefix(3)))
        signed.sign(as: victim, root: network.roots[victim]!)
        guard case .refused = directory.apply(signed) else { Issue.record("a changed root counted"); return }
        // The three others sign (and the new root, for the new document's own threshold).
        let good = network.signed(next, by: Array(network.codes.dropFirst()) + [victim], roots: roots)
        guard case .applied(let what) = directory.apply(good) else { Issue.record("refused"); return }
        #expect(what.description.contains("RAA's root replaced"))
        // The old root's certificate no longer gives RAA a key.
        #expect(directory.signingKeys(of: victim, at: network.start + 60).isEmpty)
    }

    @Test func twoDocumentsWithOneVersionAreAConflict() throws {
        let network = Network()
        let directory = try network.directory()
        var a = network.document(version: 2, codes: network.codes)
        a.threshold = 2
        var b = network.document(version: 2, codes: network.codes)
        b.threshold = 4
        #expect(directory.apply(network.signed(a, by: network.codes)) != .known)
        guard case .conflict(let conflict) = directory.apply(network.signed(b, by: network.codes)) else {
            Issue.record("no conflict")
            return
        }
        #expect(conflict.kind == "membership")
        #expect(directory.membership.threshold == 2)
    }

    @Test func certificatesMustComeFromTheTrustsRootAndOneSerialMeansOneCertificate() throws {
        let network = Network()
        let directory = try network.directory()
        let trust = network.codes[1]
        let forged = network.certificate(trust, serial: 2, key: SigningKey(), from: network.start, root: SigningKey())
        guard case .refused(let why) = directory.apply(forged) else { Issue.record("forged accepted"); return }
        #expect(why.contains("not signed by RBB's root"))
        guard
            case .conflict(let conflict) = directory.apply(
                network.certificate(trust, serial: 1, key: SigningKey(), from: network.start))
        else { Issue.record("no conflict"); return }
        #expect(conflict.kind == "certificate" && conflict.trust == trust)
        #expect(directory.signingKeys(of: trust, at: network.start + 1) == [network.nodes[trust]!.verifyingKey])
    }

    @Test func aRotatedKeyIsAcceptedForTheOverlapThenNot() throws {
        let network = Network()
        let directory = try network.directory()
        let trust = network.codes[2]
        let old = network.nodes[trust]!.verifyingKey
        let new = SigningKey()
        let rotatedAt = network.start + 3_600
        #expect(directory.apply(network.certificate(trust, serial: 2, key: new, from: rotatedAt)) != .known)
        #expect(directory.signingKeys(of: trust, at: rotatedAt - 1) == [old])
        #expect(directory.signingKeys(of: trust, at: rotatedAt + 599) == [new.verifyingKey, old])
        #expect(directory.signingKeys(of: trust, at: rotatedAt + 600) == [new.verifyingKey])
        let topology = directory.topology(at: rotatedAt + 10)
        #expect(topology.trust(trust)?.signingKey == new.verifyingKey)
        #expect(topology.trust(trust)?.previousSigningKeys == [old])
    }

    @Test func aRevocationRefusesWhatTheKeySignedFromItsTimeOn() throws {
        let network = Network()
        let directory = try network.directory()
        let trust = network.codes[3]
        let key = network.nodes[trust]!
        let since = network.start + 7_200
        // A stranger cannot revoke; the root can; the key itself can, with an earlier time.
        let stranger = KeyRevocation.sign(
            trust: trust, key: key.verifyingKey, reason: .compromised, since: Timestamp.text(since),
            issuedAt: Timestamp.text(since), by: SigningKey())
        guard case .refused = directory.apply(stranger) else { Issue.record("stranger revoked"); return }
        // Another member's root cannot revoke this trust's key, under either trust's name.
        for (name, root) in [
            (trust, network.roots[network.codes[0]]!), (network.codes[0], network.roots[network.codes[0]]!),
        ] {
            let crossed = KeyRevocation.sign(
                trust: name, key: key.verifyingKey, reason: .compromised, since: Timestamp.text(since),
                issuedAt: Timestamp.text(since), by: root)
            guard case .refused = directory.apply(crossed) else { Issue.record("RAA revoked RDD's key"); return }
        }
        let byRoot = KeyRevocation.sign(
            trust: trust, key: key.verifyingKey, reason: .compromised, since: Timestamp.text(since),
            issuedAt: Timestamp.text(since), by: network.roots[trust]!)
        #expect(directory.apply(byRoot) != .known)
        #expect(directory.signingKeys(of: trust, at: since - 1) == [key.verifyingKey])
        #expect(directory.signingKeys(of: trust, at: since).isEmpty)
        #expect(directory.topology(at: since + 1).trust(trust)?.signingKey == nil)
        let earlier = KeyRevocation.sign(
            trust: trust, key: key.verifyingKey, reason: .compromised, since: Timestamp.text(since - 3_600),
            issuedAt: Timestamp.text(since), by: key)
        #expect(directory.apply(earlier) != .known)
        #expect(directory.signingKeys(of: trust, at: since - 1).isEmpty)
        #expect(directory.signingKeys(of: trust, at: since - 3_601) == [key.verifyingKey])
    }

    @Test func twoDirectoriesConvergeByMergingStates() throws {
        let network = Network()
        let a = try network.directory()
        let b = try NetworkDirectory(pinned: a.state.memberships[0])
        #expect(a.digest != b.digest)
        let outcomes = b.merge(a.state)
        #expect(outcomes.count == 4)
        #expect(a.digest == b.digest)
        #expect(b.merge(a.state).isEmpty)
    }

    @Test func timestampsReadOnlyTheOneForm() {
        #expect(Timestamp.date("2026-12-05T12:00:00Z") != nil)
        for bad in ["2026-12-05 12:00:00Z", "2026-02-30T12:00:00Z", "2026-12-05T24:00:00Z", "", "2026-12-05T12:00:00"] {
            #expect(Timestamp.date(bad) == nil, "\(bad)")
        }
        let now = Date(timeIntervalSince1970: 1_800_000_123)
        #expect(Timestamp.date(Timestamp.text(now)) == now)
    }
}
