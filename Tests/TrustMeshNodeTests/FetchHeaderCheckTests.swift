import Foundation
import Testing
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// The identity check of a fetched study on the receive path, against real node processes: a
/// holder whose manifest files an instance under another series than the instance's own header
/// names is caught as that instance's first chunks arrive. The fetch fails with the header's
/// reason (as the check before the commit gave), stops moving the study, commits nothing, and is
/// audited as abandoned.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FetchHeaderCheckTests {
    static let patient = "9434765919"

    @Test func aManifestContradictedByAnInstanceHeaderFailsTheFetchAsItsChunksArriveAndNothingIsCommitted()
        async throws
    {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        // The holder files the first instance of every manifest it serves under this series.
        try await network.start(
            "RRK", environment: ["TRUSTMESH_FAULT_MANIFEST_SERIES": "1.2.826.0.1.3680043.10.999.81"])
        // Small batches, so the fetch is many batches long and can stop part way.
        try await network.start("RKB", arguments: ["--fetch-batch-kb", "64"])
        let study = "1.2.826.0.1.3680043.10.8.41"
        let input = network.directory.appending("in")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", Self.patient, "--instances", "16", "--size", "256",
            "--study-uid", study,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory("RRK"), input])
        #expect(ingested.status == 0, "\(ingested.stderr)")
        try await poll("RKB to list the study", deadline: .seconds(30)) {
            let result = try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
            return result?.studies.contains { $0.studyInstanceUID == study } == true
        }
        let care = try await network.cli(
            "RKB", ["care", "add", "--node", network.url("RKB"), "--nhs", Self.patient, "--kind", "referral"])
        #expect(care.status == 0, "\(care.stderr)")

        let fetched = try await network.cli("RKB", ["fetch", "--node", network.url("RKB"), "--study", study, "--json"])
        #expect(fetched.status != 0)
        #expect(
            fetched.stderr.contains("own header has another SeriesInstanceUID than the manifest"),
            "\(fetched.stdout)\(fetched.stderr)")
        // Found on the receive path: the fetch stopped before the study had moved (the check before
        // the commit needs every chunk here first).
        let progress = (try? JSONSerialization.jsonObject(with: Data(fetched.stdout.utf8))) as? [String: Any] ?? [:]
        let received = try #require(progress["bytesReceived"] as? Int)
        let toMove = try #require(progress["bytesToMove"] as? Int)
        #expect(received < toMove, "\(progress)")

        let listed = try await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
        #expect(listed.studies.first { $0.studyInstanceUID == study }?.localCopy == false)
        let status = try await LocalAPIClient.status(node: network.api("RKB"))
        #expect(status.instances == 0 && status.studies == 0)
        let log = network.directory.appending("RKB.audit.jsonl")
        let export = try await CommandRunner.trustmesh([
            "audit", "export", "--data", network.dataDirectory("RKB"), "--out", log,
        ])
        #expect(export.status == 0, "\(export.stderr)")
        let entries = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(
            entries.contains {
                $0["kind"] as? String == "fetchAbandoned"
                    && ($0["subject"] as? [String: String])?["studyUID"] == study
            })
    }
}
