import Foundation
import NIOHTTP1
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshPeer
import TrustMeshStore
import TrustMeshTesting

/// Signed tree heads between real node processes: peers pin every entry, idle nodes write nothing,
/// and a trust that signs two histories is caught (issue 15).
@Suite(.serialized, .timeLimit(.minutes(5))) struct TreeHeadTests {
    static let patient = "9434765919"
    static let fast = ["--tree-head-seconds", "1"]

    func run(_ arguments: [String]) async throws -> ProcessResult { try await CommandRunner.trustmesh(arguments) }

    func ingest(_ network: TestNetwork, at code: String, study: String) async throws {
        let input = network.directory.appending("in-\(study)")
        #expect(
            try await run([
                "synthesize", "--out", input, "--patient-id", Self.patient, "--instances", "1", "--size", "32",
                "--study-uid", study,
            ]).status == 0)
        let ingested = try await run(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
    }

    /// The held head of `trust`'s log at node `code` (read from its catalogue, as the node keeps it).
    func latestHead(_ network: TestNetwork, at code: String, of trust: String) throws -> SignedTreeHead? {
        try LocalNode(directory: network.dataDirectory(code)).store.audit.latestTreeHead(of: TrustID(trust))
    }

    func entryCount(_ network: TestNetwork, _ code: String) throws -> Int {
        try LocalNode(directory: network.dataDirectory(code)).store.audit.count()
    }

    func export(_ network: TestNetwork, _ code: String, suffix: String = "") async throws -> String {
        let path = network.directory.appending("\(code)\(suffix).jsonl")
        let result = try await run(["audit", "export", "--data", network.dataDirectory(code), "--out", path])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    @Test func peersPinEveryEntryIncludingTheLastAndIdleNodesWriteNothing() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RL4"])
        for code in ["RRK", "RKB", "RL4"] { try await network.start(code, arguments: Self.fast) }
        try await ingest(network, at: "RRK", study: "1.2.826.0.1.3680043.10.15.1")

        // RRK's log grew: within a few intervals both peers hold a head of it covering the ingest.
        let grown = try entryCount(network, "RRK")
        for peer in ["RKB", "RL4"] {
            try await poll("\(peer) to hold a tree head of RRK's \(grown) entries", deadline: .seconds(30)) {
                (try latestHead(network, at: peer, of: "RRK")?.treeSize ?? 0) >= UInt64(grown)
            }
        }

        // Quiet: every node has signed a head of its whole log and every peer holds it.
        let codes = ["RRK", "RKB", "RL4"]
        try await poll("every log pinned by every peer", deadline: .seconds(30)) {
            for code in codes {
                let count = try entryCount(network, code)
                guard let own = try latestHead(network, at: code, of: code), own.treeSize == UInt64(count) else {
                    return false
                }
                for peer in codes where peer != code {
                    guard try latestHead(network, at: peer, of: code) == own else { return false }
                }
            }
            return true
        }
        // Idle: three more gossip rounds at RKB, and no node's log or RKB's tree heads grow.
        let counts = try ["RRK", "RKB", "RL4"].map { try entryCount(network, $0) }
        let heads = try LocalNode(directory: network.dataDirectory("RKB")).store.audit.treeHeads()
        let rounds = try await LocalAPIClient.status(node: network.api("RKB")).gossipRounds
        try await poll("RKB to run three more rounds", deadline: .seconds(30)) {
            (try await LocalAPIClient.status(node: network.api("RKB")).gossipRounds) >= rounds + 3
        }
        // Tree heads are signed at the same interval as rounds start; give one more head interval.
        let before = try await LocalAPIClient.status(node: network.api("RL4")).gossipRounds
        try await poll("RL4 to run two more rounds", deadline: .seconds(30)) {
            (try await LocalAPIClient.status(node: network.api("RL4")).gossipRounds) >= before + 2
        }
        #expect(try ["RRK", "RKB", "RL4"].map { try entryCount(network, $0) } == counts)
        #expect(try LocalNode(directory: network.dataDirectory("RKB")).store.audit.treeHeads() == heads)

        // A clean stop signs a head of the whole log, nodeStopped included, and hands it to the peers.
        #expect(network.stop("RRK") == 0)
        let final = try entryCount(network, "RRK")
        let held = try #require(try latestHead(network, at: "RKB", of: "RRK"))
        #expect(held.treeSize == UInt64(final))
        for code in ["RKB", "RL4"] { #expect(network.stop(code) == 0) }

        // Dropping only the last entry of RRK's log is caught against RKB's and RL4's heads.
        var logs: [String] = []
        for code in ["RRK", "RKB", "RL4"] { logs.append(try await export(network, code)) }
        let clean = try await run(["audit", "verify"] + logs + ["--topology", network.topologyPath])
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stdout.contains("pinned to #\(final)"), "\(clean.stdout)")
        let lines = try String(contentsOfFile: logs[0], encoding: .utf8).split(separator: "\n")
        let entries = lines.filter { $0.contains("\"type\":\"entry\"") }
        // The export itself is audited: one more entry, which no peer has pinned yet.
        #expect(entries.count == final + 1)
        #expect(clean.stdout.contains("(#\(final + 1)–#\(final + 1) not yet pinned)"), "\(clean.stdout)")
        // An insider drops nodeStopped, the last entry the running node wrote (and the export's).
        let truncated = network.directory.appending("RRK-without-last.jsonl")
        try (entries.prefix(final - 1).joined(separator: "\n") + "\n").write(
            toFile: truncated, atomically: true, encoding: .utf8)
        let caught = try await run(["audit", "verify", truncated, logs[1], logs[2], "--topology", network.topologyPath])
        #expect(caught.status == 1)
        #expect(caught.stdout.contains("RRK #\(final): truncated"), "\(caught.stdout)")

        // Alone, a log says how far it is pinned.
        let alone = try await run(["audit", "verify", truncated, "--topology", network.topologyPath])
        #expect(alone.stdout.contains("not pinned") || alone.stdout.contains("pinned to"), "\(alone.stdout)")
    }

    @Test func aTrustThatSignsTwoHistoriesRaisesTheAlarmAndIsAudited() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        for code in ["RRK", "RKB"] { try await network.start(code, arguments: Self.fast) }
        try await ingest(network, at: "RRK", study: "1.2.826.0.1.3680043.10.15.2")
        try await poll("RKB to hold a head of RRK's log", deadline: .seconds(30)) {
            try latestHead(network, at: "RKB", of: "RRK") != nil
        }
        let genuine = try #require(try latestHead(network, at: "RKB", of: "RRK"))

        // Someone with RRK's key signs another head of the same size: a second history.
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let key = try rrk.signingKey()
        let forged = SignedTreeHead.signed(
            trust: genuine.trust, treeSize: genuine.treeSize, rootHash: MerkleTree.leafHash(Array("forged".utf8)),
            time: CareTime.format(Date()), key: key)
        // ...and one larger, whose history does not extend the genuine one.
        let larger = SignedTreeHead.signed(
            trust: genuine.trust, treeSize: genuine.treeSize + 5, rootHash: MerkleTree.leafHash(Array("fork".utf8)),
            time: CareTime.format(Date()), key: key)
        let client = PeerClient(
            me: rrk.configuration.trust, signing: key, agreement: try rrk.agreementKey(), topology: network.topology)
        struct Heads: Encodable { var heads: [SignedTreeHead] }
        for head in [forged, larger] {
            _ = try await client.call(
                try TrustID("RKB"), path: TreeHeadGossip.headsPath,
                payload: Array(try JSONEncoder().encode(Heads(heads: [head]))))
        }
        try await client.shutdown()

        let rkb = try LocalNode(directory: network.dataDirectory("RKB"))
        // The conflict rows and their audit entries are written one after the other: wait for both.
        try await poll("RKB to record and audit both equivocations", deadline: .seconds(30)) {
            try rkb.store.audit.treeHeadConflicts().count >= 2
                && rkb.store.audit.entries(kinds: [.treeHeadConflict]).count >= 2
        }
        let conflicts = try rkb.store.audit.treeHeadConflicts()
        #expect(conflicts.contains { $0.first == genuine && $0.second == forged })
        #expect(conflicts.contains { $0.second == larger })
        let audited = try rkb.store.audit.entries(kinds: [.treeHeadConflict])
        #expect(audited.count == 2)
        #expect(audited.allSatisfy { $0[.peer] == "RRK" && $0[.rule] == "equivocation" })
        #expect(audited.contains { $0.details?.contains(forged.rootHash.hex) == true })

        // Both the operator and information governance see the alarm.
        let officer = try await network.signIn("RKB", user: "ines")
        let governance = try await TestNetwork.request(
            .GET, network.url("RKB") + "/governance", headers: officer.headers)
        #expect(governance.body.contains("id=\"audit-alarm\""))
        #expect(governance.body.contains("RRK"))
        let operatorSession = try await network.signIn("RKB", user: "olu")
        let operatorPage = try await TestNetwork.request(
            .GET, network.url("RKB") + "/operator", headers: operatorSession.headers)
        #expect(operatorPage.body.contains("id=\"audit-alarm\""))
        // Neither forged head is held; the genuine history (which may have grown since) is.
        let held = try rkb.store.audit.treeHeads().filter { $0.trust == genuine.trust }
        #expect(held.contains(genuine))
        #expect(!held.contains(forged) && !held.contains(larger))
    }

    @Test func headsFromAnUnknownKeyOrOfAnUnknownTrustAreRefused() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB", "RL4"])
        for code in ["RRK", "RKB"] { try await network.start(code, arguments: Self.fast) }
        let rrk = try LocalNode(directory: network.dataDirectory("RRK"))
        let client = PeerClient(
            me: rrk.configuration.trust, signing: try rrk.signingKey(), agreement: try rrk.agreementKey(),
            topology: network.topology)
        struct Heads: Encodable { var heads: [SignedTreeHead] }
        let mallory = try SigningKey(seed: Array(repeating: 7, count: 32))
        let cases: [(SignedTreeHead, PeerRefusal.Code)] = [
            (
                SignedTreeHead.signed(
                    trust: try TrustID("RRK"), treeSize: 3, rootHash: MerkleTree.emptyRoot,
                    time: CareTime.format(Date()), key: mallory), .badSignature
            ),
            (
                SignedTreeHead.signed(
                    trust: try TrustID("RXX"), treeSize: 3, rootHash: MerkleTree.emptyRoot,
                    time: CareTime.format(Date()), key: mallory), .unknownPeer
            ),
        ]
        for (head, code) in cases {
            await #expect(throws: PeerRefusal.self) {
                do {
                    _ = try await client.call(
                        try TrustID("RKB"), path: TreeHeadGossip.headsPath,
                        payload: Array(try JSONEncoder().encode(Heads(heads: [head]))))
                } catch let refusal as PeerRefusal {
                    #expect(refusal.code == code)
                    throw refusal
                }
            }
        }
        // A peer may ask for a proof only within the log; a stranger with curl gets nothing at all.
        struct Ask: Encodable {
            var from: UInt64
            var to: UInt64
        }
        await #expect(throws: PeerRefusal.self) {
            do {
                _ = try await client.call(
                    try TrustID("RKB"), path: TreeHeadGossip.consistencyPath,
                    payload: Array(try JSONEncoder().encode(Ask(from: 1, to: 1_000_000))))
            } catch let refusal as PeerRefusal {
                #expect(refusal.code == .notFound)
                throw refusal
            }
        }
        // A head RRK relays for another trust (RL4, not running) that no key RKB knows signed is set
        // aside, not refused: RKB may not have learnt RL4's new certificate yet (a relay could not
        // know). It is not held either.
        let relayed = SignedTreeHead.signed(
            trust: try TrustID("RL4"), treeSize: 3, rootHash: MerkleTree.emptyRoot, time: CareTime.format(Date()),
            key: mallory)
        _ = try await client.call(
            try TrustID("RKB"), path: TreeHeadGossip.headsPath,
            payload: Array(try JSONEncoder().encode(Heads(heads: [relayed]))))
        try await client.shutdown()
        for path in [TreeHeadGossip.headsPath, TreeHeadGossip.consistencyPath] {
            let stranger = try await TestNetwork.request(
                .POST, network.peerURL("RKB") + path, body: Data(#"{"from":0,"to":1,"heads":[]}"#.utf8),
                headers: ["Content-Type": "application/json"])
            #expect((400...401).contains(stranger.status), "\(path): \(stranger.status)")
            #expect(!stranger.body.contains("proof") && !stranger.body.contains("rootHash"), "\(stranger.body)")
        }
        // RRK's genuine heads may arrive meanwhile; the forged ones never do.
        let held = try LocalNode(directory: network.dataDirectory("RKB")).store.audit.treeHeads()
        #expect(!held.contains { head in cases.contains { $0.0 == head } })
        #expect(!held.contains { $0.trust.code == "RXX" || $0.trust.code == "RL4" })
    }
}
