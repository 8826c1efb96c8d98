import Foundation
import Testing
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// The DICOM listener's limits against a real node: sockets that never associate.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DIMSELimitsTests {
    @Test func idleSocketsFromOneAddressDoNotStopAnEchoFromAnother() async throws {
        let net = try TestNetwork(trusts: ["RRK"])
        let port = try FreePorts.allocate(1)[0]
        // Four associations at once and twenty sockets per address: the 40 idle sockets below are
        // five times the association limit, so on their own they would stop every peer if
        // connections counted before their A-ASSOCIATE-RQ.
        try await net.start(
            "RRK",
            arguments: [
                "--dicom-port", "\(port)", "--dicom-timeout", "30", "--dicom-max-associations", "4",
                "--dicom-max-per-address", "20",
            ])
        try await DIMSENodeTests.waitForDICOM(net, "RRK")

        var idle: [RawConnection] = []
        for _ in 0..<40 { idle.append(try RawConnection(port: port, from: "127.0.0.2")) }
        // Over the per-address cap: closed at once.
        try await poll("the sockets over the per-address cap to be closed", deadline: .seconds(25)) {
            idle.filter { $0.drain() }.count >= 20
        }
        #expect(idle.filter { $0.drain() }.count < 40, "the rest wait for ARTIM")

        // A real echoscu from 127.0.0.1 associates while 20 idle sockets are held.
        let echo = try await DIMSENodeTests.dcmtk("echoscu", ["-aec", "TM_RRK", "127.0.0.1", "\(port)"])
        #expect(echo.status == 0, "\(echo.stdout)\(echo.stderr)")

        // ARTIM closes the rest.
        try await poll("ARTIM to close every idle socket", deadline: .seconds(90)) { idle.allSatisfy { $0.drain() } }
        #expect(idle.allSatisfy { $0.received.isEmpty }, "closed without a PDU (PS3.8 Sta2 + ARTIM)")
        let status = try await DIMSENodeTests.status(net, "RRK")
        #expect(status.dicom?.associationsAccepted == 1)
        #expect(status.dicom?.activeAssociations == 0)

        // 40 refusals from one address: aggregated in the audit log, not 40 entries: the first,
        // then (written when the node stops) the count of the other 39.
        #expect(net.stop("RRK") == 0)
        let log = net.directory.appending("audit.jsonl")
        let exported = try await CommandRunner.trustmesh([
            "audit", "export", "--data", net.dataDirectory("RRK"), "--out", log,
        ])
        #expect(exported.status == 0, "\(exported.stderr)")
        let refusals = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter {
            $0.contains("\"dicomRefused\"")
        }
        #expect(refusals.count == 2, "\(refusals)")
        #expect(refusals.last?.contains(#"\"repeated\":\"39\""#) == true, "\(refusals.last ?? "")")
    }
}
