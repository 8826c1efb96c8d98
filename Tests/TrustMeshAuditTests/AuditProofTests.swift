import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore
import TrustMeshTesting

/// Inclusion proofs as an auditor uses them: `trustmesh audit prove` on a node's folder, then
/// `audit check-proof` with only the trust's key; and the stored tree agrees with the log.
@Suite(.timeLimit(.minutes(3))) struct AuditProofTests {
    typealias F = Fixtures

    struct Setup {
        let dir: TemporaryDirectory
        let node: LocalNode
        let topology: String

        init(entries: Int = 12) throws {
            dir = try TemporaryDirectory(prefix: "trustmesh-proof")
            node = try LocalNode.create(directory: dir.appending("rrk"), trust: F.rrk, name: "RRK")
            let key = try node.signingKey()
            for n in 0..<entries {
                try node.store.audit.append(
                    AuditEntry.Draft(
                        trust: F.rrk, time: F.time(n), kind: n == 4 ? .fetchServed : .query, actor: "Dr Ünal Şahin",
                        subject: [.nhsNumber: F.patient.digits, .studyUID: F.study]), key: key)
            }
            topology = dir.appending("topology.json")
            try LocalNetwork.write(
                Topology(
                    name: "test",
                    trusts: [
                        Topology.Trust(
                            ods: F.rrk, name: "RRK", address: "127.0.0.1:7401",
                            signingKey: node.configuration.signingPublicKey),
                        Topology.Trust(
                            ods: F.rq3, name: "RQ3", address: "127.0.0.1:7402", signingKey: F.rq3Key.verifyingKey),
                    ]), to: topology)
        }

        func prove(_ arguments: [String]) async throws -> ProcessResult {
            try await CommandRunner.trustmesh(["audit", "prove", "--data", dir.appending("rrk")] + arguments)
        }

        func check(_ file: String, _ keyArguments: [String]? = nil) async throws -> ProcessResult {
            try await CommandRunner.trustmesh(
                ["audit", "check-proof", file] + (keyArguments ?? ["--topology", topology]))
        }
    }

    @Test func theStoredTreeIsTheTreeOfTheLog() throws {
        let setup = try Setup(entries: 37)
        let audit = setup.node.store.audit
        let entries = try audit.all()
        var tree = MerkleTree.InMemory()
        for entry in entries { tree.append(MerkleTree.leafHash(entry.canonicalBytes)) }
        let state = try audit.treeState()
        #expect(state.size == 37)
        #expect(state.root == (try tree.root()))
        for size in [1, 2, 5, 16, 17, 36] as [UInt64] {
            #expect(try audit.treeRoot(size: size) == tree.root(size: size))
            #expect(try audit.consistencyProof(from: size, to: 37) == tree.consistencyProof(from: size, to: 37))
        }
        #expect(try audit.inclusionProof(sequence: 5, size: 37) == tree.inclusionProof(index: 4, size: 37))
        #expect(throws: StoreError.self) { try audit.treeRoot(size: 38) }
        #expect(throws: StoreError.self) { try audit.inclusionProof(sequence: 38, size: 38) }
    }

    @Test func aProofChecksWithOnlyTheTrustsKeyAndTamperingIsCaught() async throws {
        let setup = try Setup()
        let file = setup.dir.appending("entry-5.json")
        let proved = try await setup.prove(["--entry", "5", "--out", file])
        #expect(proved.status == 0, "\(proved.stdout)\(proved.stderr)")
        // No head was signed yet: prove signs one of the whole log, its own entry included.
        #expect(proved.stderr.contains("signed a new tree head of 13 entries"), "\(proved.stderr)")
        #expect(proved.stdout.contains("RRK #5 (fetchServed)"))
        // Writing a proof discloses the entry: audited.
        let last = try #require(try setup.node.store.audit.head())
        #expect(last.kind.rawValue == "auditProofWritten" && last["sequence"] == "5")

        let ok = try await setup.check(file)
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("OK      RRK #5 (fetchServed"))
        #expect(ok.stdout.contains("is in RRK's log of 13 entries"))
        let byKey = try await setup.check(file, ["--key", setup.node.configuration.signingPublicKey.base64])
        #expect(byKey.status == 0, "\(byKey.stdout)\(byKey.stderr)")

        // Another trust's key, an edited entry, a bent path, a head of another log: each fails.
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        func write(_ change: (inout [String: Any]) -> Void, _ name: String) async throws -> String {
            var copy = object
            change(&copy)
            let path = setup.dir.appending(name)
            try JSONSerialization.data(withJSONObject: copy, options: [.sortedKeys]).write(
                to: URL(fileURLWithPath: path))
            return path
        }
        let wrongKey = try await setup.check(file, ["--key", F.rq3Key.verifyingKey.base64])
        #expect(wrongKey.status == 1)
        #expect(wrongKey.stdout.contains("FAILED  RRK #5: bad signature"), "\(wrongKey.stdout)")

        let edited = try await write(
            {
                var entry = $0["entry"] as! [String: Any]
                entry["actor"] = "Dr Nobody"
                $0["entry"] = entry
            }, "edited.json")
        #expect(try await setup.check(edited).stdout.contains("FAILED  RRK #5: bad hash"))

        var path = try #require(object["path"] as? [String])
        path[0] = String(repeating: "0", count: 64)
        let bent = try await write({ $0["path"] = path }, "bent.json")
        #expect(try await setup.check(bent).stdout.contains("FAILED  RRK #5: bad path"))

        let shorter = try await write({ $0["path"] = Array(path.dropLast()) }, "shorter.json")
        #expect(try await setup.check(shorter).stdout.contains("FAILED  RRK #5: bad"))

        var head = try #require(object["treeHead"] as? [String: Any])
        head["treeSize"] = 14
        let resized = try await write({ $0["treeHead"] = head }, "resized.json")
        #expect(try await setup.check(resized).stdout.contains("FAILED  RRK #5: bad tree head"))
        object["type"] = "somethingElse"
        let notAProof = try await write({ _ in }, "not-a-proof.json")
        let refused = try await setup.check(notAProof)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("is not an inclusion proof"))
    }

    @Test func proveUsesAHeldHeadAndRefusesWhatItCannotProve() async throws {
        let setup = try Setup()
        // The node's own head of 12 entries, as its gossip would have signed it.
        let tree = try setup.node.store.audit.treeState()
        let head = SignedTreeHead.signed(
            trust: F.rrk, treeSize: tree.size, rootHash: tree.root, time: F.time(30), key: try setup.node.signingKey())
        try setup.node.store.audit.storeTreeHead(head)

        let file = setup.dir.appending("entry-12.json")
        let proved = try await setup.prove(["--entry", "12", "--out", file])
        #expect(proved.status == 0, "\(proved.stderr)")
        #expect(!proved.stderr.contains("signed a new tree head"))
        #expect(proved.stdout.contains("against the tree head of 12 entries"))
        #expect(try await setup.check(file).status == 0)

        let beyond = try await setup.prove(["--entry", "99"])
        #expect(beyond.status != 0)
        #expect(beyond.stderr.contains("there is no entry #99"))
        let unheld = try await setup.prove(["--entry", "3", "--tree-size", "7"])
        #expect(unheld.status != 0)
        #expect(unheld.stderr.contains("holds no tree head of 7 entries; it holds heads of 12"), "\(unheld.stderr)")
        let again = try await setup.prove(["--entry", "3", "--out", file])
        #expect(again.status != 0)
        #expect(again.stderr.contains("must not exist"))
    }
}
