import Foundation
import Glibc
import Testing
import TrustMeshDICOM
import TrustMeshTesting

/// The `trustmesh` command as a user runs it: a real process, real files.
@Suite(.timeLimit(.minutes(5))) struct CLITests {
    func trustmesh(_ arguments: String...) async throws -> ProcessResult {
        try await CommandRunner.trustmesh(arguments)
    }

    @Test func initCreatesOwnerOnlyKeyFilesAndRefusesToRunTwice() async throws {
        let dir = try TemporaryDirectory()
        let data = dir.appending("node")
        let first = try await trustmesh(
            "init", "--data", data, "--trust", "rrk", "--name", "University Hospitals Birmingham")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("RRK"))
        for key in ["signing.key", "agreement.key"] {
            var info = stat()
            #expect(stat(data + "/keys/" + key, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
        }
        let keyBefore = try Data(contentsOf: URL(fileURLWithPath: data + "/keys/signing.key"))
        let second = try await trustmesh("init", "--data", data, "--trust", "RRK", "--name", "Again")
        #expect(second.status != 0)
        #expect(second.stderr.contains("already holds a TrustMesh node"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: data + "/keys/signing.key")) == keyBefore)
        // Secrets never reach the output.
        #expect(!first.stdout.contains(keyBefore.base64EncodedString()))
    }

    @Test func gcRemovesOnlyOldLeftoversAndSaysWhat() async throws {
        let dir = try TemporaryDirectory()
        let data = dir.appending("node")
        #expect(
            try await trustmesh("init", "--data", data, "--trust", "RQ3", "--name", "Birmingham Children's").status == 0
        )
        let uid = "1.2.826.0.1.3680043.10.1.9"
        let made = try await trustmesh(
            "synthesize", "--out", dir.appending("in"), "--instances", "2", "--size", "64", "--study-uid", uid)
        #expect(made.status == 0)
        #expect(try await trustmesh("ingest", "--data", data, dir.appending("in")).status == 0)
        // A leftover of an interrupted ingest: an unlisted chunk file, two hours old, and a fresh one.
        let folder = data + "/store/chunks/00"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let old = folder + "/" + String(repeating: "0", count: 64)
        let fresh = folder + "/00" + String(repeating: "1", count: 62)
        try Data(count: 5000).write(to: URL(fileURLWithPath: old))
        try Data(count: 7000).write(to: URL(fileURLWithPath: fresh))
        var times = [timeval(tv_sec: time(nil) - 7200, tv_usec: 0), timeval(tv_sec: time(nil) - 7200, tv_usec: 0)]
        #expect(utimes(old, &times) == 0)

        let dry = try await trustmesh("gc", "--data", data, "--dry-run")
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("Would remove 0 unused chunk rows, 1 chunk files and 0 pack files (5.0 KB)"))
        #expect(FileManager.default.fileExists(atPath: old))
        let gc = try await trustmesh("gc", "--data", data)
        #expect(gc.stdout.contains("Removed 0 unused chunk rows, 1 chunk files"), "\(gc.stdout)")
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: fresh))
        #expect(try await trustmesh("export", "--data", data, "--study", uid, "--out", dir.appending("x")).status == 0)
        let bad = try await trustmesh("gc", "--data", data, "--staged-hours=-1")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("must not be negative"))
    }

    /// A topology file that cannot be used is named with what is wrong in it, by field.
    @Test func aBadTopologyIsRefusedNamingTheField() async throws {
        let dir = try TemporaryDirectory()
        #expect(
            try await trustmesh("init", "--data", dir.appending("node"), "--trust", "RRK", "--name", "UHB").status == 0)
        let cases: [(String, String)] = [
            (#"{"trusts": ["#, "not valid JSON"),
            (#"{"trusts": []}"#, #""name" is missing"#),
            (
                #"{"name": "n", "trusts": [{"ods": "RRK", "name": "UHB", "address": 7}]}"#,
                #""trusts.0.address" has the wrong type"#
            ),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let path = dir.appending("topology-\(index).json")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let run = try await trustmesh("node", "run", "--data", dir.appending("node"), "--topology", path)
            #expect(run.status == 1)
            #expect(
                run.stderr.contains("\(path): \(expected)")
                    || run.stderr.contains("\(path): not a topology: \(expected)"), "\(run.stderr)")
        }
    }

    @Test func initRefusesAMalformedODSCode() async throws {
        let dir = try TemporaryDirectory()
        let result = try await trustmesh("init", "--data", dir.appending("n"), "--trust", "R-K", "--name", "X")
        #expect(result.status != 0)
        #expect(result.stderr.contains("not an ODS code"))
    }

    @Test func ingestQueryAndExportRoundTrip() async throws {
        let dir = try TemporaryDirectory()
        let data = dir.appending("node")
        #expect(
            try await trustmesh("init", "--data", data, "--trust", "RQ3", "--name", "Birmingham Children's").status == 0
        )
        let made = try await trustmesh(
            "synthesize", "--out", dir.appending("in"), "--patient-id", "943 476 5919", "--instances", "3",
            "--size", "64", "--study-uid", "1.2.826.0.1.3680043.10.1.1"
        )
        #expect(made.status == 0, "\(made.stderr)")

        let ingest = try await trustmesh("ingest", "--data", data, dir.appending("in"))
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(ingest.stdout.contains("Ingested 3 instances in 1 study"))
        #expect(ingest.stdout.contains("published 1 index record"))

        let query = try await trustmesh("query", "--data", data, "--nhs", "943-476-5919", "--json")
        #expect(query.status == 0, "\(query.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(query.stdout.utf8)) as? [String: Any]
        let studies = result?["studies"] as? [[String: Any]]
        #expect(result?["optedOut"] as? Bool == false)
        #expect(studies?.count == 1)
        #expect(studies?.first?["studyInstanceUID"] as? String == "1.2.826.0.1.3680043.10.1.1")
        #expect(studies?.first?["instanceCount"] as? Int == 3)
        #expect(studies?.first?["holder"] as? String == "RQ3")
        #expect(studies?.first?["localCopy"] as? Bool == true)

        let text = try await trustmesh("query", "--data", data, "--nhs", "9434765919")
        #expect(text.stdout.contains("1 study for NHS number 943 476 5919 across the network"))

        let export = try await trustmesh(
            "export", "--data", data, "--study", "1.2.826.0.1.3680043.10.1.1", "--out", dir.appending("out"))
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("Exported 3 files"))

        let again = try await trustmesh("ingest", "--data", data, dir.appending("in"))
        #expect(again.stdout.contains("3 already held"))
        #expect(again.stdout.contains("nothing new to store"))
        #expect(!again.stdout.contains("published"))

        let optOut = try await trustmesh(
            "optout", "--data", data, "--nhs", "9434765919", "--reference", "Opt-out form OPT-1")
        #expect(optOut.status == 0, "\(optOut.stderr)")
        let hidden = try await trustmesh("query", "--data", data, "--nhs", "9434765919")
        #expect(hidden.stdout.contains("opted out"))
        #expect(!hidden.stdout.contains("1.2.826.0.1.3680043.10.1.1"))
    }

    @Test func anInvalidNHSNumberExitsNonZeroNamingTheProblem() async throws {
        let dir = try TemporaryDirectory()
        let data = dir.appending("node")
        _ = try await trustmesh("init", "--data", data, "--trust", "RRK", "--name", "UHB")
        let result = try await trustmesh("query", "--data", data, "--nhs", "943 476 5918")
        #expect(result.status != 0)
        #expect(result.stderr.contains("check digit"))
        let short = try await trustmesh("query", "--data", data, "--nhs", "12345")
        #expect(short.stderr.contains("10 digits"))
    }

    @Test func ingestOfABadFileExitsTwoAndNamesIt() async throws {
        let dir = try TemporaryDirectory()
        let data = dir.appending("node")
        _ = try await trustmesh("init", "--data", data, "--trust", "RRK", "--name", "UHB")
        _ = try await trustmesh("synthesize", "--out", dir.appending("in"), "--instances", "1", "--size", "32")
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir.appending("in/bad.dcm")))
        let result = try await trustmesh("ingest", "--data", data, dir.appending("in"))
        #expect(result.status == 2)
        #expect(result.stdout.contains("1 file(s) refused"))
        #expect(result.stdout.contains("bad.dcm"))
        #expect(result.stdout.contains("Ingested 1 instances"))
        // The refusal is audited with its reason.
        let log = dir.appending("audit.jsonl")
        #expect(try await trustmesh("audit", "export", "--data", data, "--out", log).status == 0)
        let entries = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(entries.contains { $0.contains("\"ingestRefused\"") && $0.contains("bad.dcm") })
    }

    /// A node's disk fills in the middle of an ingest: the ingest stops with an error that says so,
    /// keeps no partial instance and no stray chunk file, audits why; once there is room, the same
    /// command stores everything, byte for byte.
    @Test(.enabled(if: CommandRunner.canMountTmpfs, "needs unshare -Urm to mount a small tmpfs"))
    func aFullDiskStopsTheIngestCleanlyAndTheSameCommandFinishesItLater() async throws {
        let dir = try TemporaryDirectory()
        let uid = "1.2.826.0.1.3680043.10.77.1"
        _ = try await trustmesh(
            "synthesize", "--out", dir.appending("in"), "--instances", "20", "--size", "512", "--study-uid", uid)
        let disk = dir.appending("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let bin = CommandRunner.trustmeshPath
        // Everything on the small disk happens inside the namespace; results are written outside it.
        let script = """
            set -u
            mount -t tmpfs -o size=64m tmpfs "$1" || exit 90
            node="$1/node"; out="$2"; in="$3"; bin="$4"; uid="$5"
            # A ballast file leaves 1.5 MB free; removing it later is the operator freeing space
            # (a remount to grow the disk is refused to an unprivileged user, even in its namespace).
            fallocate -l $((64 * 1024 * 1024 - 1500 * 1024)) "$1/ballast" || exit 91
            "$bin" init --data "$node" --trust RRK --name UHB > /dev/null || exit 92
            "$bin" ingest --data "$node" "$in" > "$out/first.out" 2> "$out/first.err"; echo $? > "$out/first.rc"
            find "$node/store/chunks" -type f | wc -l > "$out/chunk-files"
            "$bin" status --data "$node" > "$out/status-after-first"
            rm "$1/ballast"
            "$bin" ingest --data "$node" "$in" > "$out/second.out" 2>&1; echo $? > "$out/second.rc"
            "$bin" export --data "$node" --study "$uid" --out "$out/export" > /dev/null 2>&1; echo $? > "$out/export.rc"
            "$bin" audit export --data "$node" --out "$out/audit.jsonl" > /dev/null
            """
        let run = try await CommandRunner.run(
            "/usr/bin/unshare", ["-Urm", "sh", "-c", script, "sh", disk, dir.path, dir.appending("in"), bin, uid])
        #expect(run.status == 0, "\(run.stderr)")
        func read(_ name: String) throws -> String {
            try String(contentsOfFile: dir.appending(name), encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        #expect(try read("first.rc") != "0")
        let error = try read("first.err")
        #expect(error.contains("the disk is full"), "\(error)")
        #expect(!error.contains("Fatal") && !error.contains("Stack"), "\(error)")
        #expect(try read("chunk-files") == "0", "stray chunk files after the failed ingest")
        let status = try read("status-after-first")
        #expect(status.contains("instances       0"), "\(status)")
        let second = try read("second.out")
        #expect(try read("second.rc") == "0", "\(second)")
        #expect(try read("export.rc") == "0")
        func contents(_ folder: String) throws -> [Data] {
            let base = dir.appending(folder)
            return try FileManager.default.subpathsOfDirectory(atPath: base).sorted().compactMap { relative in
                var isDirectory: ObjCBool = false
                let exists = FileManager.default.fileExists(atPath: base + "/" + relative, isDirectory: &isDirectory)
                return !exists || isDirectory.boolValue
                    ? nil : try Data(contentsOf: URL(fileURLWithPath: base + "/" + relative))
            }.sorted { $0.lexicographicallyPrecedes($1) }
        }
        let exported = try contents("export")
        #expect(exported.count == 20)
        #expect(exported == (try contents("in")))
        let audit = try read("audit.jsonl")
        #expect(audit.contains("\"ingestFailed\"") && audit.contains("the disk is full"))
        #expect(audit.contains("\"ingest\""))
    }

    /// The subcommands a `--help` lists: ArgumentParser prints each under `SUBCOMMANDS:`, two
    /// spaces in, with its abstract beside it (wrapped abstracts are indented further).
    static func subcommands(_ help: String) -> [String] {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "SUBCOMMANDS:") else { return [] }
        return lines[(start + 1)...].prefix { !$0.isEmpty }.compactMap { line in
            line.hasPrefix("  ") && !line.hasPrefix("   ") ? line.split(separator: " ").first.map(String.init) : nil
        }
    }

    /// The shipped command lists only what an operator, clinician or auditor uses. The
    /// measurements Scripts/bench runs are `trustmesh-bench` commands: the same invocation that
    /// works there is refused by `trustmesh` (hiding them from the help would not be enough).
    @Test func benchmarksAreTrustmeshBenchCommandsAndNotTrustmeshOnes() async throws {
        let help = try await trustmesh("--help")
        #expect(help.status == 0, "\(help.stderr)")
        let shipped = Self.subcommands(help.stdout)
        #expect(shipped.contains("ingest") && shipped.contains("audit") && shipped.contains("synthesize"), "\(shipped)")
        #expect(!shipped.contains("bench"))
        for moved in ["measure-limit", "simulate-gossip"] {
            #expect(!help.stdout.contains(moved))
        }
        let auditHelp = try await trustmesh("audit", "--help")
        #expect(
            Self.subcommands(auditHelp.stdout).sorted() == ["check-proof", "export", "prove", "replay", "verify"],
            "\(auditHelp.stdout)")

        let benchHelp = try await CommandRunner.trustmeshBench(["--help"])
        #expect(benchHelp.status == 0, "\(benchHelp.stderr)")
        #expect(
            Self.subcommands(benchHelp.stdout).sorted() == [
                "audit", "audit-tree", "index-append", "index-build", "index-exchange", "index-query", "index-verify",
                "measure-limit", "network-gossip", "simulate-gossip",
            ])

        let dir = try TemporaryDirectory()
        #expect(
            try await trustmesh("synthesize", "--out", dir.appending("in"), "--instances", "2", "--size", "32").status
                == 0)
        let limit = ["measure-limit", dir.appending("in")]
        let gossip = ["simulate-gossip", "--nodes", "5", "--records", "2"]
        let runs: [(shipped: [String], bench: [String], prints: String)] = [
            (limit, limit, "limit_mb_per_s"),
            (gossip, gossip, "| 5 | 2 |"),
            (["audit", "bench", "--entries", "20"], ["audit", "--entries", "20"], "verify (hash, signature, link)"),
        ]
        for run in runs {
            let refused = try await CommandRunner.trustmesh(run.shipped)
            #expect(refused.status != 0, "trustmesh \(run.shipped.joined(separator: " ")) still runs")
            #expect(!refused.stdout.contains(run.prints))
            let measured = try await CommandRunner.trustmeshBench(run.bench)
            #expect(measured.status == 0, "trustmesh-bench \(run.bench.joined(separator: " ")): \(measured.stderr)")
            #expect(measured.stdout.contains(run.prints), "\(measured.stdout)")
        }
    }

    @Test func commandsOnAFolderThatIsNotANodeSaySo() async throws {
        let dir = try TemporaryDirectory()
        let result = try await trustmesh("query", "--data", dir.path, "--nhs", "9434765919")
        #expect(result.status != 0)
        #expect(result.stderr.contains("trustmesh init"))
    }

    @Test func inspectPrintsKeywordsAndErrorsAsJSON() async throws {
        let dir = try TemporaryDirectory()
        _ = try await trustmesh(
            "synthesize", "--out", dir.appending("in"), "--instances", "1", "--size", "32", "--patient-id", "4010232137"
        )
        let file = try #require(FileManager.default.contentsOfDirectory(atPath: dir.appending("in")).first)
        try Data("DICM".utf8).write(to: URL(fileURLWithPath: dir.appending("bad.dcm")))
        let result = try await trustmesh("inspect", "--json", dir.appending("in/" + file), dir.appending("bad.dcm"))
        #expect(result.status == 2)
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(objects.count == 2)
        #expect(objects[0]["PatientID"] as? String == "4010232137")
        #expect(objects[0]["Modality"] as? String == "CT")
        #expect(objects[0]["TransferSyntaxUID"] as? String == "1.2.840.10008.1.2.1")
        #expect(objects[0]["error"] == nil)
        #expect((objects[1]["error"] as? String)?.isEmpty == false)
    }

    @Test func inspectOfAOneGigabyteFileStaysSmallInMemory() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.appending("large.dcm")
        try DICOMWriter.writeLargePixelDataFile(path: path, pixelDataLength: 1 << 30)
        let result = try await trustmesh("inspect", "--json", path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.maxResidentBytes > 0, "peak memory was not measured")
        #expect(result.maxResidentBytes < 64 << 20, "peak RSS \(result.maxResidentBytes) bytes")
    }
}
