import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore
import TrustMeshTesting

/// A real node's log across `trustmesh keys rotate` and `trustmesh keys revoke`, exported and
/// checked as an auditor would: `audit verify` / `audit replay --network` (the network file from
/// `membership export`) against a stale `--topology`, cross-checked by the Python verifier.
@Suite(.timeLimit(.minutes(3))) struct AuditKeyChangeCLITests {
    static let script = AuditCLITests.script

    func run(_ arguments: [String], status: Int32 = 0) async throws -> ProcessResult {
        let result = try await CommandRunner.trustmesh(arguments)
        #expect(
            result.status == status,
            "trustmesh \(arguments.prefix(2).joined(separator: " ")): \(result.stdout)\(result.stderr)")
        return result
    }

    func python(_ arguments: [String]) async throws -> ProcessResult {
        try await CommandRunner.run("/usr/bin/env", ["python3", Self.script] + arguments)
    }

    @Test func aLogAcrossARotationVerifiesWithTheNetworkAndAnEntrySignedAfterACompromiseIsReported() async throws {
        let dir = try TemporaryDirectory(prefix: "trustmesh-audit-keys")
        let net = dir.appending("net")
        let raa = try TrustID("RAA")
        try LocalNetwork.create(
            template: Topology(
                name: "audit keys",
                trusts: [
                    Topology.Trust(ods: raa, name: "RAA", address: "127.0.0.1:7411"),
                    Topology.Trust(ods: try TrustID("RBB"), name: "RBB", address: "127.0.0.1:7412"),
                ]),
            directory: net)
        let data = net + "/RAA"
        let node = try LocalNode(directory: data)
        // What the node does when it starts with the network file: it holds the membership.
        _ = try node.loadNetworkDirectory(file: net + "/network.json")
        let first = try node.signingKey()
        #expect(try node.store.audit.head() == nil)
        // Three entries signed with the first key, 200, 150 and 100 seconds ago (its certificate
        // starts 300 s before the network was made). It will be revoked from 125 s ago.
        let start = Date()
        for (age, kind) in [(200.0, AuditEntry.Kind.nodeStarted), (150, .query), (100, .query)] {
            try node.store.audit.append(
                AuditEntry.Draft(
                    trust: raa, time: Timestamp.text(start - age), kind: kind, actor: "node",
                    subject: [.actorKind: "system"]), key: first)
        }
        let theft = Timestamp.text(start - 125)

        // Rotate (the node is not running: it switches at once and logs keyChanged, then keyCertified).
        let rotated = try await run(["keys", "rotate", "--data", data, "--root", net + "/roots/RAA"])
        #expect(rotated.stdout.contains("certificate #2"), "\(rotated.stdout)")
        let second = try LocalNode(directory: data).signingKey()
        #expect(second.verifyingKey != first.verifyingKey)
        let network = dir.appending("network.json")
        _ = try await run(["membership", "export", "--data", data, "--out", network])
        let log = dir.appending("raa.jsonl")
        _ = try await run(["audit", "export", "--data", data, "--out", log])
        let lines = try AuditCLITests.lines(log)
        let entries = try AuditExport.parse(Array(try Data(contentsOf: URL(fileURLWithPath: log)))).entries
        #expect(entries.map(\.kind).prefix(5) == [.nodeStarted, .query, .query, .keyChanged, .keyCertified])
        #expect(entries[3].details == first.verifyingKey.base64)

        // With the network file every entry verifies with the key its trust held then.
        let verified = try await run(["audit", "verify", log, "--network", network])
        #expect(verified.stdout.contains("OK      RAA  \(log): \(entries.count) entries"), "\(verified.stdout)")
        let pythonVerified = try await python([log, "--network", network])
        #expect(pythonVerified.status == 0, "\(pythonVerified.stdout)\(pythonVerified.stderr)")
        #expect(pythonVerified.stdout.contains("OK      \(log): RAA, \(entries.count) entries"))
        // The topology written by `network create` still pins the first key: keyChanged, the first
        // entry signed with the second, fails.
        let topology = net + "/topology.json"
        let stale = try await run(["audit", "verify", log, "--topology", topology], status: 1)
        #expect(stale.stdout.contains("FAILED  RAA  \(log): RAA #4: bad signature"), "\(stale.stdout)")
        let pythonStale = try await python([log, "--topology", topology])
        #expect(pythonStale.status == 1)
        #expect(pythonStale.stdout.contains("FAILED  \(log): RAA #4: bad signature"), "\(pythonStale.stdout)")

        // The first key was stolen 125 s before the test began: the root revokes it from then on.
        _ = try await run([
            "keys", "revoke", "--data", data, "--root", net + "/roots/RAA", "--key", first.verifyingKey.base64,
            "--reason", "compromised", "--since", theft,
        ])
        let revokedNetwork = dir.appending("network-revoked.json")
        _ = try await run(["membership", "export", "--data", data, "--out", revokedNetwork])
        let after = try await run(["audit", "verify", log, "--network", revokedNetwork], status: 1)
        let expected =
            "RAA #3: revoked key: signed by RAA's key \(first.verifyingKey.base64.prefix(12))… (certificate #1), "
            + "revoked as compromised since \(theft) by RAA's root"
        #expect(after.stdout.contains("FAILED  RAA  \(log): \(expected)"), "\(after.stdout)")
        let pythonAfter = try await python([log, "--network", revokedNetwork])
        #expect(pythonAfter.status == 1)
        #expect(pythonAfter.stdout.contains("FAILED  \(log): \(expected)"), "\(pythonAfter.stdout)")
        // Entries #1 and #2 were signed before the theft: they stand.
        let before = dir.appending("raa-before.jsonl")
        try Data((lines.prefix(2).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: before))
        _ = try await run(["audit", "verify", before, "--network", revokedNetwork])
        #expect(try await python([before, "--network", revokedNetwork]).status == 0)

        // The replay reports the entry as a revokedKey finding and keeps the others.
        let replay = try await run(["audit", "replay", log, "--network", revokedNetwork, "--json"], status: 3)
        let report = try JSONDecoder().decode(AuditReplayReport.self, from: Data(replay.stdout.utf8))
        #expect(report.findings.map(\.kind) == [.revokedKey])
        #expect(report.findings.first?.sequence == 3)
        #expect(report.findings.first?.message.contains("revoked as compromised since \(theft)") == true)
        #expect(report.timeline.map(\.sequence) == entries.map(\.sequence).filter { $0 != 3 })
    }

    @Test func verifyNeedsATopologyOrANetworkFileAndSaysWhatIsWrongWithOne() async throws {
        let dir = try TemporaryDirectory(prefix: "trustmesh-audit-keys")
        let log = dir.appending("empty.jsonl")
        try Data().write(to: URL(fileURLWithPath: log))
        let neither = try await run(["audit", "verify", log], status: 64)
        #expect(neither.stderr.contains("give --topology FILE or --network FILE"), "\(neither.stderr)")
        let bogus = dir.appending("network.json")
        try Data(#"{"memberships": [], "certificates": [], "revocations": []}"#.utf8).write(
            to: URL(fileURLWithPath: bogus))
        let empty = try await run(["audit", "verify", log, "--network", bogus], status: 1)
        #expect(empty.stderr.contains("holds no membership document"), "\(empty.stderr)")
        #expect(try await python([log, "--network", bogus]).status == 2)
    }
}
