import Foundation
import Testing
import TrustMeshNodeTesting
import TrustMeshTesting

/// C-MOVE asks the node's one opt-out check: an opted-out patient's study is not moved.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DIMSEOptOutTests {
    @Test func cMoveSendsNothingOfAnOptedOutPatient() async throws {
        let net = try TestNetwork(trusts: ["RRK"])
        let ports = try FreePorts.allocate(2)
        let (dicomPort, destinationPort) = (ports[0], ports[1])
        let study = "1.2.826.0.1.3680043.10.714.1"
        _ = try await DIMSEMoveTests.ingest(net, "RRK", uid: study, seed: 714)
        let destination = try await DIMSEMoveTests.StoreSCP(net, name: "DEST", port: destinationPort)
        try await net.start(
            "RRK",
            arguments: [
                "--dicom-port", "\(dicomPort)", "--move-destination", "DEST=127.0.0.1:\(destinationPort)",
                "--query-retrieve-ae", "MOVESCU",
            ])
        try await DIMSENodeTests.waitForDICOM(net, "RRK")
        let keys = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=\(study)"]
        let moved = try await DIMSEMoveTests.movescu(dicomPort, destination: "DEST", keys)
        #expect(DIMSEMoveTests.last("Completed Suboperations", in: moved) == "6", "\(moved)")
        try await poll("storescp to write six files", deadline: .seconds(30)) { destination.files.count == 6 }
        try destination.clear()

        let optOut = try await CommandRunner.trustmesh([
            "optout", "--data", net.dataDirectory("RRK"), "--nhs", DIMSEMoveTests.nhs, "--reference",
            "Opt-out form OPT-714",
        ])
        #expect(optOut.status == 0, "\(optOut.stderr)")
        let refused = try await DIMSEMoveTests.movescu(dicomPort, destination: "DEST", keys)
        // The final response has come: every sub-operation it started has ended.
        #expect(DIMSEMoveTests.last("Completed Suboperations", in: refused) ?? "0" == "0", "\(refused)")
        #expect(destination.files.isEmpty)
    }
}
