import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPolicy
import TrustMeshStore
import TrustMeshTesting

/// A running network grows from four trusts to five and back, by signed membership versions
/// carried by gossip, with no node restarted.
@Suite(.serialized, .timeLimit(.minutes(5))) struct MembershipTests {
    let patient = try! NHSNumber("9434765919")
    let members = ["RAA", "RBB", "RCC", "RDD"]

    func ingest(_ network: TestNetwork, at code: String, studyUID: String) async throws {
        let input = network.directory.appending("in-\(studyUID)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", "9434765919", "--instances", "2", "--size", "32",
            "--study-uid", studyUID,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
    }

    func lists(_ network: TestNetwork, _ code: String, _ studyUID: String) async -> Bool {
        guard let result = try? await LocalAPIClient.query(node: network.api(code), nhs: patient) else { return false }
        return result.studies.contains { $0.studyInstanceUID == studyUID }
    }

    func membershipVersion(_ network: TestNetwork, _ code: String) throws -> UInt64 {
        let node = try LocalNode(directory: network.dataDirectory(code))
        let entries = try node.store.audit.entries(kinds: [.membershipChanged])
        return entries.compactMap { $0[.version].flatMap(UInt64.init) }.max() ?? 1
    }

    func run(_ arguments: [String]) async throws -> ProcessResult {
        let result = try await CommandRunner.trustmesh(arguments)
        #expect(result.status == 0, "trustmesh \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)")
        return result
    }

    @Test func aRunningNetworkGrowsToFiveTrustsAndShrinksBackToFour() async throws {
        let network = try TestNetwork(trusts: members, spare: ["REE"])
        for code in members { try await network.start(code) }
        let roots = network.networkDirectory + "/roots/"
        let work = network.directory.appending("membership")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        // The new trust: its root off the node, its node's keys made on its own machine.
        _ = try await run(["keys", "root-init", "--out", work + "/root-REE", "--trust", "REE"])
        _ = try await run(["membership", "export", "--data", network.dataDirectory("RAA"), "--out", work + "/v1.json"])
        let join = try await run([
            "join", "--data", network.dataDirectory("REE"), "--root", work + "/root-REE", "--network",
            work + "/v1.json", "--name", "Test trust REE", "--address", network.spareAddress("REE"), "--out",
            work + "/join.json",
        ])
        #expect(join.stdout.contains("REE") && join.stdout.contains("JOINS"))
        // Two members' roots are not the threshold (3 of 4): submitted, it is not applied.
        for code in ["RAA", "RBB"] {
            _ = try await run(["membership", "sign", "--root", roots + code, work + "/join.json"])
        }
        _ = try await run(["membership", "submit", "--data", network.dataDirectory("RBB"), work + "/join.json"])
        let third = try await run(["membership", "sign", "--root", roots + "RCC", work + "/join.json"])
        #expect(third.stdout.contains("Needs 3 of version 1's members (has 3)"))
        _ = try await run(["membership", "submit", "--data", network.dataDirectory("RBB"), work + "/join.json"])
        for code in members {
            try await poll("\(code) to apply version 2", deadline: .seconds(30)) {
                (try? membershipVersion(network, code)) == 2
            }
        }
        try await network.start("REE", arguments: ["--network", work + "/join.json"])

        // The newcomer's study reaches every member, and a member's study reaches the newcomer.
        try await ingest(network, at: "REE", studyUID: "1.2.826.0.1.3680043.10.16.1")
        try await ingest(network, at: "RAA", studyUID: "1.2.826.0.1.3680043.10.16.2")
        for code in members {
            try await poll("\(code) to list REE's study", deadline: .seconds(30)) {
                await lists(network, code, "1.2.826.0.1.3680043.10.16.1")
            }
        }
        try await poll("REE to list RAA's study", deadline: .seconds(30)) {
            await lists(network, "REE", "1.2.826.0.1.3680043.10.16.2")
        }
        // The members' doors name the newcomer from the membership they applied, without a restart.
        let listed = try await LocalAPIClient.query(node: network.api("RCC"), nhs: patient)
        #expect(
            listed.studies.first { $0.studyInstanceUID == "1.2.826.0.1.3680043.10.16.1" }?.holderName
                == "Test trust REE")

        // REE leaves: version 3, signed by three of version 2's five members.
        _ = try await run(["membership", "export", "--data", network.dataDirectory("RCC"), "--out", work + "/v2.json"])
        // The same version caps referrals at 30 days: the network policy travels in the document.
        var policy = NetworkPolicy()
        policy.setCap(.referral, to: .seconds(30 * 86_400))
        try LocalNetwork.writePolicy(policy, to: work + "/policy.json")
        let proposed = try await run([
            "membership", "propose", "--network", work + "/v2.json", "--remove", "REE", "--policy",
            work + "/policy.json", "--out", work + "/leave.json",
        ])
        #expect(proposed.stdout.contains("REE   LEAVES") && proposed.stdout.contains("NETWORK POLICY CHANGES"))
        for code in ["RBB", "RCC", "RDD"] {
            _ = try await run(["membership", "sign", "--root", roots + code, work + "/leave.json"])
        }
        _ = try await run(["membership", "submit", "--data", network.dataDirectory("RDD"), work + "/leave.json"])
        for code in members {
            try await poll("\(code) to apply version 3", deadline: .seconds(30)) {
                (try? membershipVersion(network, code)) == 3
            }
            let changed =
                try LocalNode(directory: network.dataDirectory(code)).store.audit.entries(
                    kinds: [.membershipChanged]
                ).last?.details ?? ""
            #expect(changed.contains("left: REE") && changed.contains("network policy changed"), "\(code): \(changed)")
        }
        // REE is no longer a peer: what it publishes now reaches nobody, and its requests are refused.
        try await ingest(network, at: "REE", studyUID: "1.2.826.0.1.3680043.10.16.3")
        try await ingest(network, at: "RDD", studyUID: "1.2.826.0.1.3680043.10.16.4")
        for code in members {
            try await poll("\(code) to list RDD's later study", deadline: .seconds(30)) {
                await lists(network, code, "1.2.826.0.1.3680043.10.16.4")
            }
        }
        try await poll("a member to refuse REE", deadline: .seconds(30)) {
            try members.contains { code in
                try LocalNode(directory: network.dataDirectory(code)).store.audit.entries(kinds: [.peerRefused])
                    .contains { $0[.rule] == "unknownPeer" }
            }
        }
        for code in members { #expect(!(await lists(network, code, "1.2.826.0.1.3680043.10.16.3"))) }
        for code in members { #expect(network.stop(code) == 0) }
        #expect(network.stop("REE") == 0)
    }
}
