import Foundation
import NIOHTTP1
import Testing
import TrustMeshDICOM
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// STOW-RS hands each part to ingest as soon as it is whole, while the rest of the body arrives,
/// against a real node: what a later bad part, a body that stops mid-part and a client that goes
/// away mid-body leave behind (DICOMwebTests holds the door's other refusals).
@Suite(.serialized, .timeLimit(.minutes(5))) struct STOWStreamingTests {
    static let study = "1.2.826.0.1.3680043.10.17.1"
    let web = DICOMwebTests()

    /// The files of a synthesized study, in name order.
    func synthesize(_ network: TestNetwork, folder: String, arguments: [String]) async throws -> [String] {
        let path = network.directory.appending(folder)
        let made = try await web.run(
            ["synthesize", "--out", path, "--patient-id", DICOMwebTests.patient, "--study-uid", Self.study]
                + arguments)
        #expect(made.status == 0, "\(made.stderr)")
        return try FileManager.default.subpathsOfDirectory(atPath: path).filter { $0.hasSuffix(".dcm") }.sorted()
            .map { path + "/" + $0 }
    }

    static func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func sopInstanceUID(_ path: String) throws -> String {
        try #require(try DICOMReader.read(path: path).attributes.sopInstanceUID)
    }

    /// The SOP Instance UIDs of a STOW-RS answer's sequence (0008,1199 stored, 0008,1198 failed) and
    /// the failures' FailureReason (0008,1197).
    static func sequence(_ body: String, _ tag: String) throws -> (uids: [String?], reasons: [Int?]) {
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: [String: Any]])
        let items = answer[tag]?["Value"] as? [[String: [String: Any]]] ?? []
        return (
            items.map { ($0["00081155"]?["Value"] as? [String])?.first },
            items.map { ($0["00081197"]?["Value"] as? [Int])?.first }
        )
    }

    /// Files under the node's chunk store, temporary names left out.
    static func chunkFiles(_ network: TestNetwork, _ code: String) -> Set<String> {
        let root = network.dataDirectory(code) + "/store/chunks"
        let all = (try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []
        return Set(all.filter { ($0 as NSString).lastPathComponent.count == 64 })
    }

    func instances(_ network: TestNetwork) async throws -> Int {
        try #require(try? await LocalAPIClient.status(node: network.api("RRK"))).instances
    }

    /// Thirteen good parts around a bad one, one of them too large to keep in memory (it goes
    /// through a temporary file): each good part stored and listed in the order sent, the bad one
    /// failed alone with 0xC000, named in a Warning and audited; the large one comes back whole.
    @Test func aLargeRequestWhoseLaterPartIsMalformedStoresEveryOtherPartAndReportsThatOne() async throws {
        let network = try TestNetwork(trusts: ["RRK"], intervalMs: 60_000)
        try await network.start("RRK")
        let small = try await synthesize(network, folder: "small", arguments: ["--instances", "12", "--size", "64"])
        // 2,100 × 2,100 16-bit pixels: over the 8 MiB a part may take in memory.
        let large = try await synthesize(
            network, folder: "large", arguments: ["--instances", "1", "--size", "2100", "--seed", "7"])
        #expect(try Self.bytes(large[0]).count > 8 << 20)
        let good = Array(small[0..<10]) + large + Array(small[10...])
        // A DICOM file cut after 400 bytes: its header runs past its end.
        let malformed = Array(try Self.bytes(small[0]).prefix(400))
        var parts = try good.map(Self.bytes)
        parts.insert(malformed, at: 11)

        let answer = try await web.http(
            network.url("RRK") + "/dicom-web/studies", token: network.testToken("RRK"), method: .POST,
            headers: [("Content-Type", DICOMwebTests.stowType)], body: DICOMwebTests.multipart(parts))
        #expect(answer.status == 202, "\(answer.body)")
        #expect(try Self.sequence(answer.body, "00081199").uids == good.map(Self.sopInstanceUID))
        let failed = try Self.sequence(answer.body, "00081198")
        #expect(failed.reasons == [0xC000])
        #expect(
            answer.headers.contains {
                $0.0.lowercased() == "warning" && $0.1.contains("part-12.dcm") && $0.1.contains("not DICOM")
            })
        #expect(try await instances(network) == good.count)

        let log = network.directory.appending("audit.jsonl")
        #expect(
            try await web.run(["audit", "export", "--data", network.dataDirectory("RRK"), "--out", log]).status == 0)
        let refusals = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"ingestRefused\"") }
        #expect(refusals.count == 1 && refusals.first?.contains("STOW-RS part-12.dcm: not DICOM") == true)

        let out = network.directory.appending("export")
        #expect(
            try await web.run(["export", "--data", network.dataDirectory("RRK"), "--study", Self.study, "--out", out])
                .status
                == 0)
        let exported = try FileManager.default.subpathsOfDirectory(atPath: out).filter {
            $0.hasSuffix(try Self.sopInstanceUID(large[0]) + ".dcm")
        }
        #expect(exported.count == 1)
        #expect(try Self.bytes(out + "/" + (exported.first ?? "")) == (try Self.bytes(large[0])))
        let scratch =
            (try? FileManager.default.contentsOfDirectory(atPath: network.dataDirectory("RRK") + "/tmp")) ?? []
        #expect(!scratch.contains { $0.hasPrefix("stow-") })
    }

    /// A body that ends (cleanly) inside its last part: the whole parts are stored, the cut one
    /// failed with 0xC000 and the reason.
    @Test func aBodyThatEndsMidPartStoresTheWholePartsAndFailsTheCutOne() async throws {
        let network = try TestNetwork(trusts: ["RRK"], intervalMs: 60_000)
        try await network.start("RRK")
        let files = try await synthesize(network, folder: "in", arguments: ["--instances", "3", "--size", "64"])
        var body = DICOMwebTests.multipart(try files[0..<2].map(Self.bytes))
        body.removeLast("--b0undary--\r\n".utf8.count)
        let cut = try Self.bytes(files[2])
        body += Array("--b0undary\r\nContent-Type: application/dicom\r\n\r\n".utf8) + cut.prefix(cut.count / 2)

        let answer = try await web.http(
            network.url("RRK") + "/dicom-web/studies", token: network.testToken("RRK"), method: .POST,
            headers: [("Content-Type", DICOMwebTests.stowType)], body: body)
        #expect(answer.status == 202, "\(answer.body)")
        #expect(try Self.sequence(answer.body, "00081199").uids == files[0..<2].map(Self.sopInstanceUID))
        #expect(try Self.sequence(answer.body, "00081198").reasons == [0xC000])
        #expect(
            answer.headers.contains { $0.1.contains("part-3.dcm: the body ended before this part's closing boundary") })
        #expect(try await instances(network) == 2)
    }

    /// A client that goes away mid-body, after several whole parts (handed to ingest as they came):
    /// nothing is committed, every chunk written for them is removed, no temporary file is left,
    /// and the node serves on. A STOW-RS request is stored as a whole or, with refused parts, in
    /// part; never half-way because its client left (docs/ARCHITECTURE.md, "STOW-RS").
    @Test func aClientGoneMidBodyLeavesNothingBehindNotEvenChunks() async throws {
        let network = try TestNetwork(trusts: ["RRK"], intervalMs: 60_000)
        try await network.start("RRK")
        let files = try await synthesize(network, folder: "in", arguments: ["--instances", "8", "--size", "256"])
        let chunksBefore = Self.chunkFiles(network, "RRK")
        let whole = DICOMwebTests.multipart(try files[0..<7].map(Self.bytes)).dropLast("--b0undary--\r\n".utf8.count)
        let body =
            Array(whole) + Array("--b0undary\r\nContent-Type: application/dicom\r\n\r\n".utf8)
            + (try Self.bytes(files[7])).prefix(1000)
        let bodyPath = network.directory.appending("cut.multipart")
        try Data(body).write(to: URL(fileURLWithPath: bodyPath))
        // Announces twice the bytes it sends, then closes.
        let dropper = """
            import socket, sys
            port, path, type, token = sys.argv[1:5]
            body = open(path, "rb").read()
            s = socket.create_connection(("127.0.0.1", int(port)))
            s.sendall(b"POST /dicom-web/studies HTTP/1.1\\r\\nHost: 127.0.0.1:" + port.encode()
                      + b"\\r\\nAuthorization: Bearer " + token.encode() + b"\\r\\nContent-Type: " + type.encode()
                      + b"\\r\\nContent-Length: %d\\r\\n\\r\\n" % (len(body) * 2) + body)
            s.close()
            """
        let port = String(network.url("RRK").split(separator: ":").last!)
        let dropped = try await CommandRunner.run(
            "/usr/bin/env",
            ["python3", "-c", dropper, port, bodyPath, DICOMwebTests.stowType, network.testToken("RRK")])
        #expect(dropped.status == 0, "\(dropped.stderr)")
        try await poll("RRK to log the dropped request", deadline: .seconds(30)) {
            network.log("RRK").contains("DICOMweb request failed")
        }
        #expect(Self.chunkFiles(network, "RRK") == chunksBefore)
        #expect(try await instances(network) == 0)
        let scratch =
            (try? FileManager.default.contentsOfDirectory(atPath: network.dataDirectory("RRK") + "/tmp")) ?? []
        #expect(!scratch.contains { $0.hasPrefix("stow-") })
        #expect(
            try await web.http(network.url("RRK") + "/dicom-web/studies", token: network.testToken("RRK")).status == 200
        )
    }
}
