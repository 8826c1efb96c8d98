import Foundation
import Testing
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// Patient data at rest is the node's alone: folders 0700, files 0600, whatever the shell's umask.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AtRestTests {
    /// Every folder and file under `directory` whose mode is not 0700 (folders) or 0600 (files).
    static func looser(_ directory: String) -> [String] {
        var found: [String] = []
        func check(_ path: String) {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let type = attributes[.type] as? FileAttributeType, type != .typeSymbolicLink,
                let mode = attributes[.posixPermissions] as? Int
            else { return }
            if mode != (type == .typeDirectory ? 0o700 : 0o600) { found.append("\(path) \(String(mode, radix: 8))") }
        }
        check(directory)
        let walker = FileManager.default.enumerator(atPath: directory)
        while let relative = walker?.nextObject() as? String { check(directory + "/" + relative) }
        return found
    }

    /// Runs `trustmesh` as a shell with a permissive umask would (022, then 000 for ingest).
    static func trustmesh(_ arguments: [String], umask mask: String = "022") async throws -> ProcessResult {
        try await CommandRunner.run(
            "/bin/sh", ["-c", "umask \(mask) && exec \"$0\" \"$@\"", CommandRunner.trustmeshPath] + arguments)
    }

    @Test func foldersAre0700AndFiles0600AfterInitIngestAndNodeRunAndStatusWarnsWhenLoosened() async throws {
        // init and ingest, from a shell whose umask would make everything world-readable.
        let dir = try TemporaryDirectory(prefix: "trustmesh-at-rest")
        let data = dir.appending("node")
        let created = try await Self.trustmesh(["init", "--data", data, "--trust", "RRK", "--name", "Test trust RRK"])
        #expect(created.status == 0, "\(created.stderr)")
        let input = dir.appending("in")
        #expect(
            try await Self.trustmesh(["synthesize", "--out", input, "--instances", "3", "--size", "64"]).status == 0)
        let ingested = try await Self.trustmesh(["ingest", "--data", data, input], umask: "000")
        #expect(ingested.status == 0, "\(ingested.stderr)")
        #expect(Self.looser(data).isEmpty, "\(Self.looser(data))")
        let clean = try await Self.trustmesh(["status", "--data", data])
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(!clean.stdout.contains("warning"), "\(clean.stdout)")

        // An upgraded node: a folder made before the umask. status warns and says the fix.
        #expect(try await CommandRunner.run("/bin/chmod", ["0755", data + "/store"]).status == 0)
        let warned = try await Self.trustmesh(["status", "--data", data])
        #expect(warned.stdout.contains("warning: 1 folders or files"), "\(warned.stdout)")
        #expect(warned.stdout.contains("store"), "\(warned.stdout)")
        #expect(warned.stdout.contains("chmod -R go-rwx '\(data)'"), "\(warned.stdout)")
        #expect(try await CommandRunner.run("/bin/chmod", ["-R", "go-rwx", data]).status == 0)
        #expect(!(try await Self.trustmesh(["status", "--data", data])).stdout.contains("warning"))

        // node run: what the running nodes write (catalogue, audit, sessions, fetched pack files).
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        for code in ["RRK", "RKB"] {
            // Folders made by the test process (its own umask) are fixed as an operator would.
            #expect(
                try await CommandRunner.run("/bin/chmod", ["-R", "go-rwx", network.dataDirectory(code)]).status == 0)
            try await network.start(code)
        }
        let study = "1.2.826.0.1.3680043.10.15.1"
        let studyInput = dir.appending("in-net")
        #expect(
            try await Self.trustmesh([
                "synthesize", "--out", studyInput, "--patient-id", "9434765919", "--instances", "3", "--size", "64",
                "--study-uid", study,
            ]).status == 0)
        #expect(try await Self.trustmesh(["ingest", "--data", network.dataDirectory("RRK"), studyInput]).status == 0)
        let patient = try NHSNumber("9434765919")
        try await poll("RKB to list the study", deadline: .seconds(30)) {
            let result = try? await LocalAPIClient.query(node: network.api("RKB"), nhs: patient)
            return result?.studies.contains { $0.studyInstanceUID == study } == true
        }
        #expect(
            try await network.cli(
                "RKB", ["care", "add", "--node", network.url("RKB"), "--nhs", "9434765919", "--kind", "referral"]
            ).status == 0)
        let fetched = try await network.cli("RKB", ["fetch", "--node", network.url("RKB"), "--study", study])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let packs = try FileManager.default.contentsOfDirectory(
            atPath: network.dataDirectory("RKB") + "/store/chunks/packs")
        #expect(!packs.isEmpty)
        for code in ["RRK", "RKB"] {
            #expect(
                Self.looser(network.dataDirectory(code)).isEmpty, "\(code): \(Self.looser(network.dataDirectory(code)))"
            )
        }
    }
}
