import Foundation
import Testing
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// Three real nodes go through a realistic day; their signed logs, exported and replayed offline,
/// account for every transfer, and an insider's changes are found.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AuditScenarioTests {
    let jane = "9434765919"
    let alun = "4010232137"

    func run(_ arguments: [String]) async throws -> ProcessResult { try await CommandRunner.trustmesh(arguments) }

    func exportLogs(_ network: TestNetwork, _ codes: [String], suffix: String = "") async throws -> [String] {
        var paths: [String] = []
        for code in codes {
            let path = network.directory.appending("\(code)\(suffix).jsonl")
            let result = try await run(["audit", "export", "--data", network.dataDirectory(code), "--out", path])
            #expect(result.status == 0, "\(result.stderr)")
            paths.append(path)
        }
        return paths
    }

    @Test func aDayAcrossThreeTrustsAccountsForEveryTransferAndAnInsidersChangesAreFound() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RL4"])
        for code in ["RRK", "RKB", "RL4"] { try await network.start(code, arguments: ["--tree-head-seconds", "1"]) }
        let rkb = network.url("RKB")
        let rl4 = network.url("RL4")

        // Two patients' studies at RRK.
        for (patient, uid) in [(jane, "1.2.826.0.1.3680043.10.9.1"), (alun, "1.2.826.0.1.3680043.10.9.2")] {
            let input = network.directory.appending("in-\(uid)")
            #expect(
                try await run([
                    "synthesize", "--out", input, "--patient-id", patient, "--instances", "2", "--size", "64",
                    "--study-uid", uid,
                ]).status == 0)
            #expect(try await run(["ingest", "--data", network.dataDirectory("RRK"), input]).status == 0)
        }
        for endpoint in [network.api("RKB"), network.api("RL4")] {
            try await poll("gossip to \(endpoint.url)", deadline: .seconds(30)) {
                let a = try? await LocalAPIClient.query(node: endpoint, nhs: NHSNumber(jane))
                let b = try? await LocalAPIClient.query(node: endpoint, nhs: NHSNumber(alun))
                return a?.studies.count == 1 && b?.studies.count == 1
            }
        }
        // RKB cares for Jane and fetches her CT; RL4 tries without a care relationship and is refused.
        #expect(
            try await network.cli(
                "RKB", ["care", "add", "--node", rkb, "--nhs", jane, "--kind", "referral"]
            )
            .status == 0)
        #expect(
            try await network.cli("RKB", ["fetch", "--node", rkb, "--study", "1.2.826.0.1.3680043.10.9.1"]).status == 0)
        #expect(
            try await network.cli("RL4", ["fetch", "--node", rl4, "--study", "1.2.826.0.1.3680043.10.9.1"]).status != 0)
        // Alun opts out at RRK, which holds his CT; RKB then cannot fetch his study even with a care
        // relationship.
        #expect(
            try await run([
                "optout", "--data", network.dataDirectory("RRK"), "--nhs", alun, "--reference", "Opt-out form OPT-1",
            ]).status == 0)
        try await poll("the opt-out to reach RKB", deadline: .seconds(30)) {
            (try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(alun)))?.optedOut == true
        }
        #expect(
            try await network.cli(
                "RKB",
                [
                    "care", "add", "--node", rkb, "--nhs", alun, "--kind", "emergency", "--justification",
                    "Unconscious on arrival",
                ]
            ).status == 0)
        #expect(
            try await network.cli("RKB", ["fetch", "--node", rkb, "--study", "1.2.826.0.1.3680043.10.9.2"]).status != 0)

        // Wait until RKB holds a signed tree head of RRK's log that covers the share.
        func lines(_ path: String) throws -> [[String: Any]] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        try await poll("RKB to hold a tree head of RRK's log covering the share", deadline: .seconds(30)) {
            let probes = try await exportLogs(network, ["RRK", "RKB"], suffix: "-probe-\(UUID().uuidString.prefix(8))")
            let served = try lines(probes[0]).first { $0["kind"] as? String == "fetchServed" }?["sequence"] as? Int
            let held = try lines(probes[1]).filter {
                $0["type"] as? String == "treeHead" && $0["trust"] as? String == "RRK"
            }
            .compactMap { $0["treeSize"] as? Int }.max()
            return served != nil && held != nil && held! >= served!
        }
        for code in ["RRK", "RKB", "RL4"] { #expect(network.stop(code) == 0) }

        let logs = try await exportLogs(network, ["RRK", "RKB", "RL4"])
        let verify = try await run(["audit", "verify"] + logs + ["--topology", network.topologyPath])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        // Every share and transfer is accounted for; the one finding is Alun's emergency relationship,
        // recorded but never used (RKB refused itself: he had opted out).
        let replay = try await run(["audit", "replay"] + logs + ["--topology", network.topologyPath, "--json"])
        #expect(replay.status == 3, "\(replay.stdout)\(replay.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [String: Any]
        let found = report?["findings"] as? [[String: Any]] ?? []
        #expect(found.map { $0["kind"] as? String } == ["careNeverUsed"], "\(replay.stdout)")
        #expect((found.first?["message"] as? String)?.contains("emergency") == true)

        // An insider truncates RRK's log to hide the share: RKB's tree head of it exposes that.
        let rrk = try String(contentsOfFile: logs[0], encoding: .utf8).split(separator: "\n")
        let truncatedPath = network.directory.appending("RRK-truncated.jsonl")
        let entries = rrk.filter { $0.contains("\"type\":\"entry\"") }
        try (entries.prefix(3).joined(separator: "\n") + "\n").write(
            toFile: truncatedPath, atomically: true, encoding: .utf8)
        let truncated = try await run([
            "audit", "verify", truncatedPath, logs[1], logs[2], "--topology", network.topologyPath,
        ])
        #expect(truncated.status != 0)
        #expect(truncated.stdout.contains("RRK") && truncated.stdout.contains("truncated"), "\(truncated.stdout)")

        // An insider with RRK's own key logs a share to RL4 that no care relationship allowed.
        let node = try LocalNode(directory: network.dataDirectory("RRK"))
        try node.audit(
            .fetchServed, actor: .system("peer RL4"),
            subject: [
                .peer: "RL4", .studyUID: "1.2.826.0.1.3680043.10.9.1", .nhsNumber: jane, .transferID: "forged-transfer",
            ])
        let after = try await exportLogs(network, ["RRK", "RKB", "RL4"], suffix: "-after")
        let findings = try await run(["audit", "replay"] + after + ["--topology", network.topologyPath, "--json"])
        #expect(findings.status == 3, "\(findings.stdout)\(findings.stderr)")
        #expect(findings.stdout.contains("servedWithoutValidCare"))
        #expect(findings.stdout.contains("unmatchedFetch"))
    }
}
