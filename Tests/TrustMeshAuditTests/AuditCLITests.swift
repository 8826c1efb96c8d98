import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshStore
import TrustMeshTesting

/// `trustmesh audit` as an auditor runs it, cross-checked by the independent Python verifier.
@Suite(.timeLimit(.minutes(3))) struct AuditCLITests {
    typealias F = Fixtures

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let script = root + "/Scripts/verify-audit.py"

    /// A real node (RRK) with a log, a peer checkpoint it holds, RQ3's export holding a checkpoint of
    /// RRK's head, and the topology pinning both keys.
    struct Setup {
        let dir: TemporaryDirectory
        let node: LocalNode
        let topology: String
        let rq3File: String
        let transfer = "0123456789abcdef0123456789abcdef"

        init() throws {
            dir = try TemporaryDirectory(prefix: "trustmesh-audit")
            node = try LocalNode.create(directory: dir.appending("rrk"), trust: F.rrk, name: "RRK")
            let key = try node.signingKey()
            let audit = node.store.audit
            try audit.append(
                AuditEntry.Draft(trust: F.rrk, time: F.time(0), kind: .nodeStarted, actor: "node"), key: key)
            try audit.append(
                AuditEntry.Draft(
                    trust: F.rrk, time: F.time(1), kind: .ingest, actor: "operator",
                    subject: [.studyUID: F.study, .nhsNumber: F.patient.digits]), key: key)
            try audit.append(
                AuditEntry.Draft(
                    trust: F.rrk, time: F.time(2), kind: .query, actor: "Dr Ünal Şahin",
                    subject: [.nhsNumber: F.patient.digits]), key: key)
            try audit.append(
                AuditEntry.Draft(
                    trust: F.rrk, time: F.time(10), kind: .fetchServed, actor: "RQ3",
                    subject: [.peer: "RQ3", .studyUID: F.study, .nhsNumber: F.patient.digits, .transferID: transfer],
                    details: F.json(F.care())), key: key)
            try audit.append(
                AuditEntry.Draft(
                    trust: F.rrk, time: F.time(11), kind: .fetchRefused, actor: "RXK",
                    subject: [.peer: "RXK", .studyUID: F.study, .rule: "noCareRelationship"]), key: key)
            let rq3 = F.log(F.rq3, count: 4)
            try audit.storeCheckpoint(
                AuditCheckpoint.signed(trust: F.rq3, sequence: 4, headHash: rq3[3].hash, time: F.time(5), key: F.rq3Key)
            )
            let head = try audit.head()!
            try audit.append(
                AuditEntry.Draft(trust: F.rrk, time: F.time(12), kind: .nodeStopped, actor: "node"), key: key)
            let held = HeldCheckpoint(
                heldBy: F.rq3,
                checkpoint: AuditCheckpoint.signed(
                    trust: F.rrk, sequence: 6, headHash: try audit.head()!.hash, time: F.time(13), key: key))
            #expect(head.sequence == 5)
            rq3File = dir.appending("rq3.jsonl")
            try Data(try AuditExport(entries: rq3, checkpoints: [held]).jsonLines()).write(
                to: URL(fileURLWithPath: rq3File))
            topology = dir.appending("topology.json")
            let trusts = [
                Topology.Trust(
                    ods: F.rrk, name: "RRK", address: "127.0.0.1:7401", signingKey: node.configuration.signingPublicKey),
                Topology.Trust(ods: F.rq3, name: "RQ3", address: "127.0.0.1:7402", signingKey: F.rq3Key.verifyingKey),
                Topology.Trust(ods: F.rxk, name: "RXK", address: "127.0.0.1:7403", signingKey: F.rxkKey.verifyingKey),
            ]
            try LocalNetwork.write(Topology(name: "test", trusts: trusts), to: topology)
        }

        func export() async throws -> String {
            let out = dir.appending("rrk-\(UUID().uuidString.prefix(6)).jsonl")
            let result = try await CommandRunner.trustmesh([
                "audit", "export", "--data", dir.appending("rrk"), "--out", out,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            // Six events, and the export's own entry (a disclosure, audited before the file is written).
            #expect(result.stdout.contains("Exported 7 audit entries of RRK (#1–#7, head "), "\(result.stdout)")
            #expect(
                result.stdout.contains(
                    ", 0 tree heads (this node's and its peers') and 1 version 1 checkpoint to \(out)"))
            return out
        }

        func verify(_ files: [String]) async throws -> ProcessResult {
            try await CommandRunner.trustmesh(["audit", "verify"] + files + ["--topology", topology])
        }

        func python(_ files: [String]) async throws -> ProcessResult {
            try await CommandRunner.run(
                "/usr/bin/env", ["python3", AuditCLITests.script] + files + ["--topology", topology])
        }

        func write(_ lines: [String], _ name: String) throws -> String {
            let path = dir.appending(name)
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func edit(_ line: String, _ change: (inout [String: Any]) -> Void) throws -> String {
        var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        change(&object)
        return String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func pythonWithTheCryptographyPackageIsAvailable() async throws {
        let result = try await CommandRunner.run("/usr/bin/env", ["python3", "-c", "import cryptography, hashlib"])
        #expect(
            result.status == 0,
            "the cross-check needs python3 with the `cryptography` package (pip install cryptography): \(result.stderr)"
        )
    }

    @Test func anExportVerifiesInSwiftAndInPython() async throws {
        let setup = try Setup()
        let file = try await setup.export()
        let again = try await CommandRunner.trustmesh([
            "audit", "export", "--data", setup.dir.appending("rrk"), "--out", file,
        ])
        #expect(again.status != 0)
        #expect(again.stderr.contains("must not exist"))

        let swift = try await setup.verify([file, setup.rq3File])
        #expect(swift.status == 0, "\(swift.stdout)\(swift.stderr)")
        #expect(swift.stdout.contains("OK      RRK  \(file): 7 entries (#1–#7), head "))
        #expect(
            swift.stdout.contains(
                "agrees with 0 tree heads and 1 checkpoint; pinned to #6 by RQ3 (#7–#7 not yet pinned)"))
        #expect(swift.stdout.contains("OK      RQ3  \(setup.rq3File): 4 entries (#1–#4)"))
        #expect(swift.stdout.contains("All 2 logs verified."))

        let python = try await setup.python([file, setup.rq3File])
        #expect(python.status == 0, "\(python.stdout)\(python.stderr)")
        #expect(python.stdout.contains("OK      \(file): RRK, 7 entries"))
    }

    /// Each way an insider might tamper with an export, checked by both verifiers, which must name
    /// the same trust, entry and failure.
    @Test func everyTamperIsCaughtByBothVerifiersWithTheSameVerdict() async throws {
        let setup = try Setup()
        let file = try await setup.export()
        let original = try Self.lines(file)
        // Seven entries: six events and the export's own.
        let entries = Array(original.prefix(7))
        let checkpoints = Array(original.dropFirst(7))
        let rq3Lines = try Self.lines(setup.rq3File)
        let key = try setup.node.signingKey()
        func sealed(_ drafts: [AuditEntry.Draft], key: SigningKey, after head: AuditEntry? = nil) async throws
            -> [String]
        {
            var chain = AuditChain(trust: F.rrk, head: head)
            return try drafts.map {
                String(decoding: try AuditExport.line(try chain.append($0, key: key)), as: UTF8.self)
                    .trimmingCharacters(in: .newlines)
            }
        }
        let parsed = try AuditExport.parse(Array(original.joined(separator: "\n").utf8)).entries

        var tampers: [(String, [String], String)] = [
            (
                "edit a field",
                [entries[0], entries[1], try Self.edit(entries[2]) { $0["actor"] = "Dr Nobody" }] + entries[3...]
                    + checkpoints, "RRK #3: bad hash"
            ),
            ("delete an entry", Array(entries[0..<2] + entries[3...] + checkpoints), "RRK #4: sequence gap"),
            (
                "reorder",
                [entries[0], entries[1], entries[3], entries[2], entries[4], entries[5], entries[6]] + checkpoints,
                "RRK #4: out of order"
            ),
            ("truncate the tail", Array(entries.prefix(4) + checkpoints), "RRK #6: truncated"),
            (
                "re-sign with another key", try await sealed(parsed.map(\.draft), key: F.malloryKey) + checkpoints,
                "RRK #1: bad signature"
            ),
            (
                "splice another trust's entry", Array(entries[0..<2] + [rq3Lines[1]] + entries[2...] + checkpoints),
                "RRK #2: wrong trust"
            ),
        ]
        // The insider, holding the node's key, edits #3 and re-signs it: the next link breaks.
        var insider = parsed[2].draft
        insider.actor = "Dr Nobody"
        tampers.append(
            (
                "edit and re-sign one entry with the node's key",
                Array(entries[0..<2]) + [try await Self.resealed(parsed[2], insider, key: key)] + entries[3...]
                    + checkpoints,
                "RRK #4: broken link"
            ))
        // ...or rebuilds the whole chain from #3: only RQ3's checkpoint of #6 exposes it.
        tampers.append(
            (
                "rewrite history with the node's key",
                Array(entries[0..<2])
                    + (try await sealed([insider] + parsed[3...].map(\.draft), key: key, after: parsed[1]))
                    + checkpoints, "RRK #6: rewritten"
            ))

        for (name, lines, verdict) in tampers {
            let path = try setup.write(lines, "tampered-\(name.replacingOccurrences(of: " ", with: "-")).jsonl")
            let swift = try await setup.verify([path, setup.rq3File])
            #expect(swift.status == 1, "\(name): \(swift.stdout)")
            #expect(swift.stdout.contains("FAILED  RRK  \(path): \(verdict)"), "\(name): \(swift.stdout)")
            let python = try await setup.python([path, setup.rq3File])
            #expect(python.status == 1, "\(name): \(python.stdout)\(python.stderr)")
            #expect(python.stdout.contains("FAILED  \(path): \(verdict)"), "\(name): \(python.stdout)\(python.stderr)")
        }
    }

    static func resealed(_ entry: AuditEntry, _ draft: AuditEntry.Draft, key: SigningKey) throws -> String {
        let message = draft.canonicalBytes(sequence: entry.sequence, previousHash: entry.previousHash)
        let forged = AuditEntry(
            draft: draft, sequence: entry.sequence, previousHash: entry.previousHash, hash: BLAKE2b256.hash(message),
            signature: key.sign(message))
        return String(decoding: try AuditExport.line(forged), as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    @Test func replayExitsThreeWithFindingsAndZeroWithout() async throws {
        let setup = try Setup()
        let file = try await setup.export()
        let findings = try await CommandRunner.trustmesh([
            "audit", "replay", file, setup.rq3File, "--topology", setup.topology,
        ])
        #expect(findings.status == 3, "\(findings.stdout)\(findings.stderr)")
        #expect(findings.stdout.contains("Replayed 2 trusts:"))
        #expect(findings.stdout.contains("unmatchedFetch"))
        #expect(findings.stdout.contains("RRK #4 served transfer 0123456789ab… to RQ3"))
        #expect(!findings.stdout.contains(F.patient.digits))

        let json = try await CommandRunner.trustmesh(
            ["audit", "replay", file, setup.rq3File, "--topology", setup.topology, "--json"])
        #expect(json.status == 3)
        let report = try JSONDecoder().decode(AuditReplayReport.self, from: Data(json.stdout.utf8))
        #expect(report.findings.map(\.kind) == [.unmatchedFetch])
        #expect(report.timeline.count == 11)

        let clean = try await CommandRunner.trustmesh([
            "audit", "replay", setup.rq3File, "--topology", setup.topology, "--timeline",
        ])
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stdout.contains("No findings."))
        #expect(clean.stdout.contains("Note: The checkpoint of RRK #6 held by RQ3 was not checked"))
        #expect(clean.stdout.contains("RQ3 #1"))
    }

    @Test func theFormatDocumentCarriesTheVerifierAndTheWorkedExample() throws {
        let document = try String(contentsOfFile: Self.root + "/docs/AUDIT-FORMAT.md", encoding: .utf8)
        let script = try String(contentsOfFile: Self.script, encoding: .utf8)
        let marker = "<!-- verify-audit.py -->\n```python\n"
        let start = try #require(document.range(of: marker))
        let end = try #require(document.range(of: "\n```", range: start.upperBound..<document.endIndex))
        #expect(String(document[start.upperBound..<end.lowerBound]) + "\n" == script)
        for value in [
            WorkedExample.publicKey, WorkedExample.hash, WorkedExample.signature, WorkedExample.line,
            WorkedExample.checkpointSignature,
        ] {
            #expect(document.contains(value), "\(value)")
        }
        let hex = document.replacingOccurrences(of: "\n", with: "")
        #expect(hex.contains(WorkedExample.messageHex))
        #expect(hex.contains(WorkedExample.checkpointHex))
    }
}
