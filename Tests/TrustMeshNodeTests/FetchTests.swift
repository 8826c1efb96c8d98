import Foundation
import NIOHTTP1
import Testing
import TrustMeshCrypto
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// Care-gated fetches between real node processes on loopback.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FetchTests {
    static let patient = "9434765919"

    /// Makes a study, ingests it at `code`, and waits until `requester` lists it.
    func publish(
        _ network: TestNetwork, at code: String, requester: String, studyUID: String, instances: Int = 6,
        size: Int = 128
    ) async throws -> [String] {
        let input = network.directory.appending("in-\(studyUID)")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", Self.patient, "--instances", "\(instances)", "--size",
            "\(size)", "--study-uid", studyUID,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory(code), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
        try await poll("\(requester) to list \(studyUID)", deadline: .seconds(30)) {
            let result = try? await LocalAPIClient.query(node: network.api(requester), nhs: NHSNumber(Self.patient))
            return result?.studies.contains { $0.studyInstanceUID == studyUID } == true
        }
        return try FileManager.default.contentsOfDirectory(atPath: input).map { input + "/" + $0 }
    }

    /// RRK (the holder) and RKB (the requester), both running with default settings.
    func holderAndRequester() async throws -> TestNetwork {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB")
        return network
    }

    func fetch(_ network: TestNetwork, at code: String, study: String) async throws -> (ProcessResult, [String: Any]) {
        let result = try await network.cli(code, ["fetch", "--node", network.url(code), "--study", study, "--json"])
        let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        return (result, json)
    }

    func addCare(_ network: TestNetwork, at code: String, nhs: String = patient) async throws {
        let care = try await network.cli(
            code,
            [
                "care", "add", "--node", network.url(code), "--nhs", nhs, "--kind",
                "referral",
            ])
        #expect(care.status == 0, "\(care.stderr)")
    }

    func hashes(_ paths: [String]) throws -> Set<String> {
        Set(try paths.map { BLAKE2b256.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: $0)))).hex })
    }

    func exported(_ network: TestNetwork, at code: String, study: String) async throws -> [String] {
        let out = network.directory.appending("export-\(code)-\(UUID().uuidString.prefix(6))")
        let result = try await CommandRunner.trustmesh([
            "export", "--data", network.dataDirectory(code), "--study", study, "--out", out,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let enumerator = FileManager.default.enumerator(atPath: out)
        var files: [String] = []
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".dcm") { files.append(out + "/" + path) }
        }
        return files
    }

    @Test func aFetchNeedsACareRelationshipThenArrivesByteIdenticalAndARefetchMovesNothing() async throws {
        let network = try await holderAndRequester()
        let study = "1.2.826.0.1.3680043.10.8.1"
        let originals = try await publish(network, at: "RRK", requester: "RKB", studyUID: study)

        let refused = try await fetch(network, at: "RKB", study: study)
        #expect(refused.0.status != 0)
        #expect(refused.0.stderr.contains("care relationship"))

        try await addCare(network, at: "RKB")
        let (fetched, progress) = try await fetch(network, at: "RKB", study: study)
        #expect(fetched.status == 0, "\(fetched.stderr)\n\(network.log("RKB"))\n\(network.log("RRK"))")
        #expect(progress["state"] as? String == "completed")
        #expect((progress["bytesReceived"] as? Int ?? 0) > 0)
        #expect(progress["bytesReceived"] as? Int == progress["bytesToMove"] as? Int)
        #expect(try await hashes(try exported(network, at: "RKB", study: study)) == (try hashes(originals)))
        let listed = try await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
        #expect(listed.studies.first { $0.studyInstanceUID == study }?.localCopy == true)

        let (again, second) = try await fetch(network, at: "RKB", study: study)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(second["bytesReceived"] as? Int == 0)
        #expect(second["chunksAlreadyHeld"] as? Int == second["chunksTotal"] as? Int)

        // Both trusts' signed logs verify offline and account for every transfer.
        var logs: [String] = []
        for code in ["RRK", "RKB"] {
            let path = network.directory.appending("\(code).audit.jsonl")
            let export = try await CommandRunner.trustmesh([
                "audit", "export", "--data", network.dataDirectory(code), "--out", path,
            ])
            #expect(export.status == 0, "\(export.stderr)")
            logs.append(path)
        }
        let verify = try await CommandRunner.trustmesh(
            ["audit", "verify"] + logs + ["--topology", network.topologyPath])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let replay = try await CommandRunner.trustmesh(
            ["audit", "replay"] + logs + ["--topology", network.topologyPath, "--json"])
        #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
        let rrkLog = try String(contentsOfFile: logs[0], encoding: .utf8)
        let rkbLog = try String(contentsOfFile: logs[1], encoding: .utf8)
        #expect(rrkLog.contains("\"fetchServed\""))
        #expect(rkbLog.contains("\"fetchCompleted\""))
        #expect(rkbLog.contains("\"fetchAbandoned\""))  // the first attempt, without care
        #expect(rkbLog.contains("\"careAdded\""))
        #expect(rkbLog.contains("\"recordReceived\""))
    }

    @Test func theSameImagesUnderAnEditedHeaderMoveOnlyTheDifference() async throws {
        let network = try await holderAndRequester()
        let study = "1.2.826.0.1.3680043.10.8.2"
        let originals = try await publish(
            network, at: "RRK", requester: "RKB", studyUID: study, instances: 4, size: 256)
        // RKB already holds the same images, re-coded by its own PAS: new UIDs, a longer name.
        let local = network.directory.appending("local-copy")
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        for (i, file) in originals.enumerated() {
            let copy = local + "/\(i).dcm"
            try FileManager.default.copyItem(atPath: file, toPath: copy)
            let edit = try await CommandRunner.run(
                "dcmodify",
                [
                    "-nb", "-gin", "-m", "(0010,0010)=RECODED^PATIENT^NAME^AT^RKB", "-m",
                    "(0020,000D)=1.2.826.0.1.3680043.10.8.99", "-m", "(0020,000E)=1.2.826.0.1.3680043.10.8.99.1", copy,
                ])
            #expect(edit.status == 0, "\(edit.stderr)")
        }
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory("RKB"), local])
        #expect(ingested.status == 0, "\(ingested.stdout)")

        try await addCare(network, at: "RKB")
        let (fetched, progress) = try await fetch(network, at: "RKB", study: study)
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let moved = progress["bytesReceived"] as? Int ?? -1
        let size = progress["studyBytes"] as? Int ?? 0
        #expect(moved > 0)
        #expect(Double(moved) < 0.05 * Double(size), "moved \(moved) of \(size)")
        #expect(try await hashes(try exported(network, at: "RKB", study: study)) == (try hashes(originals)))
    }

    /// Fetches running at once never move a chunk twice: a study asked for twice, and a second
    /// study with the same images under re-coded headers, all started together, arrive whole and
    /// between them move each chunk of the holder's store exactly once.
    @Test func fetchesRunningAtOnceMoveEachChunkOnce() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB", arguments: ["--fetch-batch-kb", "64"])  // many batches: they overlap
        let first = "1.2.826.0.1.3680043.10.8.11"
        let originals = try await publish(
            network, at: "RRK", requester: "RKB", studyUID: first, instances: 20, size: 512)
        let second = "1.2.826.0.1.3680043.10.8.12"
        let copies = network.directory.appending("copies")
        try FileManager.default.createDirectory(atPath: copies, withIntermediateDirectories: true)
        for (i, file) in originals.enumerated() {
            try FileManager.default.copyItem(atPath: file, toPath: copies + "/\(i).dcm")
        }
        let edit = try await CommandRunner.run(
            "dcmodify",
            [
                "-nb", "-gin", "-m", "(0010,0010)=RECODED^NAME", "-m", "(0020,000D)=\(second)", "-m",
                "(0020,000E)=\(second).1",
            ]
                + originals.indices.map { copies + "/\($0).dcm" })
        #expect(edit.status == 0, "\(edit.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory("RRK"), copies])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
        try await poll("RKB to list \(second)", deadline: .seconds(30)) {
            let result = try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
            return result?.studies.contains { $0.studyInstanceUID == second } == true
        }
        try await addCare(network, at: "RKB")

        var ids: [String] = []
        for study in [first, first, second] {
            ids.append(
                try await LocalAPIClient.startFetch(node: network.api("RKB"), study: study, from: nil)
                    .id)
        }
        var ended: [FetchProgress] = []
        try await poll("the three fetches to end", deadline: .seconds(60)) {
            ended = []
            for id in ids { ended.append(try await LocalAPIClient.fetchProgress(node: network.api("RKB"), id: id)) }
            return ended.allSatisfy { $0.state == .completed || $0.state == .failed }
        }
        #expect(ended.allSatisfy { $0.state == .completed }, "\(ended.map { $0.error ?? "" })")
        let holder = try await LocalAPIClient.status(node: network.api("RRK"))
        let requester = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(requester.storedBytes == holder.storedBytes)
        #expect(
            ended.reduce(0) { $0 + $1.bytesReceived } == holder.storedBytes,
            "moved \(ended.map(\.bytesReceived)) for a store of \(holder.storedBytes) bytes")
        #expect(try await hashes(try exported(network, at: "RKB", study: first)) == (try hashes(originals)))
        #expect(try await exported(network, at: "RKB", study: second).count == originals.count)
    }

    @Test func aHolderThatSendsBadChunksIsRetriedThenAbandonedAndNothingPartialIsVisible() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK", environment: ["TRUSTMESH_FAULT_CORRUPT_CHUNKS": "2"])
        try await network.start("RKB")
        let study = "1.2.826.0.1.3680043.10.8.3"
        _ = try await publish(network, at: "RRK", requester: "RKB", studyUID: study)
        try await addCare(network, at: "RKB")
        let (fetched, progress) = try await fetch(network, at: "RKB", study: study)
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(progress["chunksRefetched"] as? Int == 2)

        let second = "1.2.826.0.1.3680043.10.8.4"
        network.stop("RRK")
        try await network.start("RRK", environment: ["TRUSTMESH_FAULT_CORRUPT_CHUNKS": "100000"])
        _ = try await publish(network, at: "RRK", requester: "RKB", studyUID: second, instances: 2, size: 64)
        let (failed, _) = try await fetch(network, at: "RKB", study: second)
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("does not match its hash"))
        let listed = try await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
        #expect(listed.studies.first { $0.studyInstanceUID == second }?.localCopy == false)
    }

    /// A holder whose store has lost a chunk of the study refuses at once, saying so (retrying
    /// would not help), and logs it for its operators; nothing of the study appears here.
    @Test func aHolderWhoseStoreLostAChunkSaysSoAndNothingAppears() async throws {
        let network = try await holderAndRequester()
        let study = "1.2.826.0.1.3680043.10.8.13"
        _ = try await publish(network, at: "RRK", requester: "RKB", studyUID: study, instances: 3, size: 64)
        try await addCare(network, at: "RKB")
        let chunks = network.dataDirectory("RRK") + "/store/chunks"
        let lost = try #require(
            FileManager.default.enumerator(atPath: chunks)?.allObjects.compactMap { $0 as? String }.first {
                $0.split(separator: "/").last?.count == 64
            })
        try FileManager.default.removeItem(atPath: chunks + "/" + lost)
        let (failed, progress) = try await fetch(network, at: "RKB", study: study)
        #expect(failed.status != 0)
        #expect(
            failed.stderr.contains("RRK refused: its own store has lost part of study \(study)"), "\(failed.stderr)")
        #expect(progress["chunksRefetched"] as? Int ?? 0 == 0)
        let listed = try await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
        #expect(listed.studies.first { $0.studyInstanceUID == study }?.localCopy == false)
        #expect(network.log("RRK").contains("this node's store is damaged"))
    }

    @Test func anInterruptedFetchResumesFromTheChunksAlreadyHere() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start(
            "RRK", arguments: [], environment: ["TRUSTMESH_FAULT_EXIT_AFTER_BATCHES": "8"])
        try await network.start("RKB", arguments: ["--fetch-batch-kb", "64"])
        let study = "1.2.826.0.1.3680043.10.8.5"
        let originals = try await publish(
            network, at: "RRK", requester: "RKB", studyUID: study, instances: 12, size: 256)
        try await addCare(network, at: "RKB")
        let (interrupted, first) = try await fetch(network, at: "RKB", study: study)
        #expect(interrupted.status != 0)
        #expect(interrupted.stderr.contains("RRK stopped sending chunks part way"), "\(interrupted.stderr)")
        #expect(interrupted.stderr.contains("ask for the study again to resume"))
        #expect(try await network.waitForExit("RRK") == 75)
        let movedBefore = first["bytesReceived"] as? Int ?? 0
        #expect(movedBefore > 0)

        try await network.start("RRK")
        let (resumed, second) = try await fetch(network, at: "RKB", study: study)
        #expect(resumed.status == 0, "\(resumed.stderr)\n\(network.log("RKB"))\n\(network.log("RRK"))")
        #expect((second["chunksAlreadyHeld"] as? Int ?? 0) > 0)
        #expect((second["bytesReceived"] as? Int ?? 0) + movedBefore >= (second["bytesToMove"] as? Int ?? 0))
        #expect(try await hashes(try exported(network, at: "RKB", study: study)) == (try hashes(originals)))
    }

    /// The requester's disk fills during a fetch: the clinician is told so, nothing of the study
    /// becomes visible, the abandoned fetch is audited, and the node serves on.
    @Test(.enabled(if: CommandRunner.canMountTmpfs, "needs unshare -Urm to mount a small tmpfs"))
    func aFetchOntoAFullDiskFailsClearlyAndLeavesNothingVisible() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB", diskKB: 2048)
        let study = "1.2.826.0.1.3680043.10.8.7"
        _ = try await publish(network, at: "RRK", requester: "RKB", studyUID: study, instances: 20, size: 512)
        try await addCare(network, at: "RKB")
        let (failed, _) = try await fetch(network, at: "RKB", study: study)
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("the disk is full"), "\(failed.stderr)")
        let listed = try await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
        #expect(listed.studies.first { $0.studyInstanceUID == study }?.localCopy == false)
        let status = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(status.instances == 0 && status.studies == 0)
        // The audit trail, read by RKB's information governance officer on the page.
        let officer = try await network.signIn("RKB", user: "ines")
        let audit = try await TestNetwork.request(.GET, network.url("RKB") + "/audit", headers: officer.headers)
        #expect(audit.body.contains("fetchAbandoned"), "\(audit.body.prefix(500))")
        #expect(network.stop("RKB") == 0)
    }

    @Test func anOptedOutPatientIsNeitherListedNorFetched() async throws {
        let network = try await holderAndRequester()
        let study = "1.2.826.0.1.3680043.10.8.6"
        _ = try await publish(network, at: "RRK", requester: "RKB", studyUID: study, instances: 2, size: 64)
        try await addCare(network, at: "RKB")
        let optOut = try await CommandRunner.trustmesh([
            "optout", "--data", network.dataDirectory("RRK"), "--nhs", Self.patient, "--reference",
            "Opt-out form OPT-1",
        ])
        #expect(optOut.status == 0)
        try await poll("RKB to learn of the opt-out", deadline: .seconds(30)) {
            (try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient)))?.optedOut == true
        }
        let (refused, _) = try await fetch(network, at: "RKB", study: study)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("opted out"))
    }
}
