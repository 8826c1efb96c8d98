import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshTesting

/// `docs/audit-vectors.json`: the committed file is the reference. The Swift code must reproduce
/// every vector, and the independent Python verifier must too (`Scripts/check-audit-vectors.py`).
@Suite struct AuditVectorTests {
    typealias V = AuditVectors

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let path = root + "/docs/audit-vectors.json"

    static func committed() throws -> V.File {
        try JSONDecoder().decode(V.File.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    @Test func theCommittedVectorsAreWhatTheCodeMakes() throws {
        let made = try V.json(try V.make())
        if ProcessInfo.processInfo.environment["TRUSTMESH_WRITE_AUDIT_VECTORS"] != nil {
            try Data(made).write(to: URL(fileURLWithPath: Self.path))
        }
        let file = try Array(Data(contentsOf: URL(fileURLWithPath: Self.path)))
        #expect(file == made, "docs/audit-vectors.json differs from what AuditVectors makes")
    }

    @Test func everyEntryVectorIsReproduced() throws {
        let vectors = try Self.committed()
        let key = try SigningKey(seed: Self.bytes(vectors.key.seed))
        #expect(key.verifyingKey.base64 == vectors.key.publicKey)
        var previous: AuditEntry?
        for vector in vectors.entries {
            let entry = try #require(try AuditExport.parse(Array(vector.line.utf8)).entries.first)
            #expect(entry.sequence == vector.sequence)
            #expect(V.hex(entry.canonicalBytes) == vector.canonicalMessage)
            #expect(BLAKE2b256.hash(entry.canonicalBytes).hex == vector.hash)
            #expect(entry.hash.hex == vector.hash)
            #expect(MerkleTree.leafHash(entry.canonicalBytes).hex == vector.leafHash)
            #expect(entry.signature.base64 == vector.signature)
            #expect(entry.draft.sealed(previous: previous, key: key) == entry)
            #expect(V.line(try AuditExport.line(entry)) == vector.line)
            previous = entry
        }
    }

    @Test func rootsTreeHeadsAndProofsAreReproduced() throws {
        let vectors = try Self.committed()
        let entries = try vectors.entries.map { try AuditExport.parse(Array($0.line.utf8)).entries[0] }
        let tree = V.tree(entries)
        let key = try VerifyingKey(base64: vectors.key.publicKey)
        for root in vectors.merkleRoots {
            #expect(try tree.root(size: root.treeSize).hex == root.rootHash, "size \(root.treeSize)")
        }
        #expect(vectors.merkleRoots.first { $0.treeSize == 0 }?.rootHash == MerkleTree.emptyRoot.hex)
        for vector in vectors.treeHeads {
            let held = try #require(try AuditExport.parse(Array(vector.line.utf8)).treeHeads.first)
            #expect(V.hex(held.treeHead.signedBytes) == vector.signedMessage)
            #expect(held.treeHead.treeSize == vector.treeSize)
            #expect(held.treeHead.rootHash.hex == vector.rootHash)
            #expect(try tree.root(size: vector.treeSize).hex == vector.rootHash)
            #expect(held.treeHead.signature.base64 == vector.signature)
            try held.treeHead.verify(with: key)
        }
        for proof in vectors.inclusionProofs {
            let path = try proof.path.map { try Digest256(hex: $0) }
            #expect(try tree.inclusionProof(index: proof.leafIndex, size: proof.treeSize) == path)
            #expect(proof.leafIndex == proof.entry - 1)
            #expect(tree.leaf(proof.leafIndex).hex == proof.leafHash)
            #expect(
                MerkleTree.verifyInclusion(
                    leaf: try Digest256(hex: proof.leafHash), index: proof.leafIndex, size: proof.treeSize, proof: path,
                    root: try Digest256(hex: proof.rootHash)))
        }
        for proof in vectors.consistencyProofs {
            let path = try proof.path.map { try Digest256(hex: $0) }
            #expect(try tree.consistencyProof(from: proof.oldSize, to: proof.newSize) == path)
            #expect(
                MerkleTree.verifyConsistency(
                    oldSize: proof.oldSize, newSize: proof.newSize, oldRoot: try Digest256(hex: proof.oldRoot),
                    newRoot: try Digest256(hex: proof.newRoot), proof: path))
        }
    }

    @Test func everyMalformedFileIsRefusedAtItsLineAndEveryAcceptedOneIsRead() throws {
        let vectors = try Self.committed()
        #expect(vectors.malformed.count >= 40)
        for vector in vectors.malformed {
            let error = Fixtures.failure { _ = try AuditExport.parse(Self.bytes(vector.bytes)) }
            #expect(error?.check == vector.failure, "\(vector.name): \(error?.description ?? "accepted")")
            #expect(
                error?.description.hasPrefix("malformed: line \(vector.line): ") == true,
                "\(vector.name): \(error?.description ?? "accepted")")
            #expect(vector.text.map { Array($0.utf8) == Self.bytes(vector.bytes) } ?? true, "\(vector.name)")
        }
        let key = try VerifyingKey(base64: vectors.key.publicKey)
        for vector in vectors.accepted {
            let export = try AuditExport.parse(Self.bytes(vector.bytes))
            #expect(export.entries.count == vector.entries, "\(vector.name)")
            #expect(export.treeHeads.count == vector.treeHeads, "\(vector.name)")
            #expect(throws: Never.self, "\(vector.name)") { _ = try AuditChain.verify(export.entries, key: key) }
        }
    }

    /// Each verdict vector, as `AuditVerification` (what `trustmesh audit verify` runs) gives it.
    @Test func everyVerdictIsReproduced() throws {
        let vectors = try Self.committed()
        let keys = [V.rrk: try VerifyingKey(base64: vectors.key.publicKey)]
        for verdict in vectors.verdicts {
            let exports = try verdict.files.map { try AuditExport.parse(Array($0.text.utf8)) }
            let result = AuditVerification(exports: exports, keys: keys)
            for (file, outcome) in zip(verdict.files, result.files) {
                if file.verdict == "OK" {
                    #expect(
                        outcome.failure == nil, "\(verdict.name), \(file.name): \(outcome.failure?.description ?? "")")
                } else {
                    let got = outcome.failure?.description ?? "OK"
                    #expect(got.hasPrefix(file.verdict + ": "), "\(verdict.name), \(file.name): \(got)")
                }
            }
        }
    }

    @Test func everyProofFileGivesItsVerdict() throws {
        let vectors = try Self.committed()
        let key = try VerifyingKey(base64: vectors.key.publicKey)
        #expect(vectors.proofFiles.count >= 8)
        for vector in vectors.proofFiles {
            var got = "OK"
            do {
                try AuditExport.inclusionProof(Array(vector.document.utf8)).verify(key: key)
            } catch let error as AuditError {
                got = error.check
            } catch let error as InclusionProof.Failure {
                got = error.check
            }
            #expect(got == vector.verdict, "\(vector.name)")
        }
    }

    @Test func theDocumentsTopologyIsAcceptedByTheCLI() async throws {
        let vectors = try Self.committed()
        let document = try String(contentsOfFile: Self.root + "/docs/AUDIT-FORMAT.md", encoding: .utf8)
        #expect(document.contains(vectors.key.topology), "the document shows the vectors' topology")
        let dir = try TemporaryDirectory(prefix: "trustmesh-vectors")
        let topology = dir.appending("topology.json")
        try Data(vectors.key.topology.utf8).write(to: URL(fileURLWithPath: topology))
        let log = dir.appending("rrk.jsonl")
        try Data((vectors.entries.map(\.line).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: log))
        let result = try await CommandRunner.trustmesh(["audit", "verify", log, "--topology", topology])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("OK      RRK  \(log): 17 entries"), "\(result.stdout)")
    }

    /// The keys a key-change verdict is checked with: its network file (first version pinned, then
    /// every statement merged) and its topology's pinned keys.
    static func keys(_ verdict: V.KeyVerdict, in vectors: V.File) throws -> AuditKeys {
        var pinned: [TrustID: VerifyingKey] = [:]
        if let topology = verdict.topology {
            for trust in try JSONDecoder().decode(Topology.self, from: Data(topology.utf8)).trusts {
                pinned[trust.ods] = trust.signingKey
            }
        }
        guard let name = verdict.network else { return AuditKeys(pinned: pinned) }
        let text = try #require(vectors.keyChanges.networks.first { $0.name == name }?.text)
        let state = try JSONDecoder().decode(NetworkDirectory.State.self, from: Data(text.utf8))
        let directory = try NetworkDirectory(pinned: state.memberships[0])
        _ = directory.merge(state)
        return AuditKeys(network: directory, pinned: pinned)
    }

    @Test func everyKeyChangeVerdictIsReproduced() throws {
        let vectors = try Self.committed()
        #expect(vectors.keyChanges.verdicts.count >= 10)
        for verdict in vectors.keyChanges.verdicts {
            let exports = try verdict.files.map { try AuditExport.parse(Array($0.text.utf8)) }
            let result = AuditVerification(exports: exports, keys: try Self.keys(verdict, in: vectors))
            for (file, outcome) in zip(verdict.files, result.files) {
                let got = outcome.failure?.description ?? "OK"
                #expect(
                    file.verdict == "OK" ? got == "OK" : got.hasPrefix(file.verdict + ": "),
                    "\(verdict.name), \(file.name): \(got)")
            }
        }
    }

    @Test func everyKeyStatementsSignedBytesAndSignaturesAreReproduced() throws {
        let vectors = try Self.committed()
        for named in vectors.keyChanges.keys {
            #expect(
                try SigningKey(seed: Self.bytes(named.seed)).verifyingKey.base64 == named.publicKey, "\(named.name)")
        }
        let document = try String(contentsOfFile: Self.root + "/docs/AUDIT-FORMAT.md", encoding: .utf8)
            .replacingOccurrences(of: "\n", with: "")
        let certificate = try #require(vectors.keyChanges.statements.first { $0.name == "RRK certificate #1" })
        #expect(document.contains(certificate.signedMessage), "AUDIT-FORMAT.md §9.2 shows certificate #1's bytes")
        for statement in vectors.keyChanges.statements {
            let json = Data(statement.json.utf8)
            let signers = try statement.signedBy.map { try VerifyingKey(base64: $0) }
            switch statement.kind {
            case "membership":
                let signed = try JSONDecoder().decode(SignedMembership.self, from: json)
                #expect(V.hex(signed.membership.signedBytes) == statement.signedMessage, "\(statement.name)")
                #expect(signed.signatures.count == signers.count, "\(statement.name)")
                for (signature, signer) in zip(signed.signatures, signers) {
                    try signer.verify(signature.signature, for: signed.membership.signedBytes)
                }
            case "certificate":
                let certificate = try JSONDecoder().decode(KeyCertificate.self, from: json)
                #expect(V.hex(certificate.signedBytes) == statement.signedMessage, "\(statement.name)")
                #expect(signers == [certificate.root])
                try certificate.verify()
            default:
                let revocation = try JSONDecoder().decode(KeyRevocation.self, from: json)
                #expect(V.hex(revocation.signedBytes) == statement.signedMessage, "\(statement.name)")
                #expect(signers == [revocation.signer])
                try revocation.verify()
            }
        }
    }

    /// `trustmesh audit verify --network` gives the vectors' verdicts too.
    @Test func theCLIGivesTheKeyChangeVerdicts() async throws {
        let vectors = try Self.committed()
        let dir = try TemporaryDirectory(prefix: "trustmesh-vectors")
        for name in ["rotation, with the network", "compromised since 09:02:30", "a tree head after the overlap"] {
            let verdict = try #require(vectors.keyChanges.verdicts.first { $0.name == name })
            let network = dir.appending("network.json")
            let text = try #require(vectors.keyChanges.networks.first { $0.name == verdict.network }?.text)
            try Data(text.utf8).write(to: URL(fileURLWithPath: network))
            var files: [String] = []
            for file in verdict.files {
                files.append(dir.appending(file.name))
                try Data(file.text.utf8).write(to: URL(fileURLWithPath: files.last!))
            }
            let result = try await CommandRunner.trustmesh(["audit", "verify"] + files + ["--network", network])
            let failed = verdict.files.contains { $0.verdict != "OK" }
            #expect(result.status == (failed ? 1 : 0), "\(name): \(result.stdout)\(result.stderr)")
            for (file, path) in zip(verdict.files, files) {
                let expected =
                    file.verdict == "OK"
                    ? "OK      " : "FAILED  \(file.verdict.prefix { $0 != " " })  \(path): \(file.verdict): "
                #expect(
                    result.stdout.split(separator: "\n").contains { $0.hasPrefix(expected) && $0.contains(path) },
                    "\(name), \(file.name): \(result.stdout)")
            }
        }
    }

    @Test func thePythonVerifierReproducesEveryVector() async throws {
        let result = try await CommandRunner.run(
            "/usr/bin/env", ["python3", Self.root + "/Scripts/check-audit-vectors.py", Self.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(" passed, 0 failed"), "\(result.stdout)\(result.stderr)")
    }
}
