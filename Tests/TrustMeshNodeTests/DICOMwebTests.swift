import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TrustMeshDICOM
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// DICOMweb against real node processes on loopback, driven by the Python `dicomweb-client`
/// package (an independent implementation) and by plain HTTP for the refusals, each with a bearer
/// access token from the test identity provider (DICOMweb never takes a session cookie).
@Suite(.serialized, .timeLimit(.minutes(5))) struct DICOMwebTests {
    static let patient = "9434765919"
    static let otherPatient = "4010232137"
    static let localStudy = "1.2.826.0.1.3680043.10.11.1"
    static let remoteStudy = "1.2.826.0.1.3680043.10.11.2"
    static let stowStudy = "1.2.826.0.1.3680043.10.11.3"

    /// Search, retrieve (byte for byte), metadata and store through dicomweb-client. The script
    /// exits non-zero with `FAIL: reason` on the first check that does not hold.
    static let script = #"""
        import io, json, sys
        from urllib.parse import urlparse
        import pydicom
        from dicomweb_client.api import DICOMwebClient

        cfg = json.loads(sys.argv[1])
        c = DICOMwebClient(url=cfg["url"], headers={"Authorization": "Bearer " + cfg["token"]})
        # dicomweb-client sends `Host: 127.0.0.1`, without the port; the node answers only to its
        # own names (127.0.0.1:PORT), so the client is given the whole authority to send.
        c.host = urlparse(cfg["url"]).netloc

        def check(condition, message):
            if not condition:
                print("FAIL: " + message)
                sys.exit(1)

        def first(obj, tag):
            return obj.get(tag, {}).get("Value", [None])[0]

        def raw(path):
            # The parts' bytes exactly as sent (the public API hands back parsed data sets).
            r = c._http_get(c.base_url + path, headers={"Accept": 'multipart/related; type="application/dicom"'})
            return sorted(bytes(p) for p in c._decode_multipart_message(r, stream=False))

        local, remote = cfg["local"], cfg["remote"]
        sources = {sop: open(path, "rb").read() for sop, path in cfg["sources"].items()}

        # QIDO-RS: the patient's studies here and at the other trust.
        studies = {first(s, "0020000D"): s for s in c.search_for_studies(search_filters={"PatientID": cfg["patient"]})}
        check(set(studies) == {local, remote}, "studies found: %s" % sorted(studies))
        check(first(studies[local], "00081190") == cfg["url"] + "/studies/" + local, "local RetrieveURL")
        check(first(studies[local], "00080056") == "ONLINE", "local availability")
        check(first(studies[local], "00201208") == len(sources), "local instance count")
        check("00081190" not in studies[remote], "a remote study has no RetrieveURL")
        check(first(studies[remote], "00080054") == cfg["holder"], "remote RetrieveAETitle is the holder")
        check(first(studies[remote], "00080056") == "NEARLINE", "remote availability")
        check(first(studies[remote], "00100020") == cfg["patient"], "remote PatientID")
        mr = c.search_for_studies(search_filters={"PatientID": cfg["patient"], "ModalitiesInStudy": "MR"})
        check([first(s, "0020000D") for s in mr] == [remote], "ModalitiesInStudy=MR")
        none = c.search_for_studies(search_filters={"PatientID": cfg["patient"], "StudyDate": "19000101-19001231"})
        check(none == [], "StudyDate range")
        check(len(c.search_for_studies(search_filters={"PatientID": cfg["patient"]}, limit=1)) == 1, "limit")
        # Without a patient: the studies held here, to the operator only (the test person is one).
        check([first(s, "0020000D") for s in c.search_for_studies()] == [local], "no PatientID: local studies")

        series = c.search_for_series(local)
        check(len(series) == 2, "two series")
        instances = c.search_for_instances(local)
        check(sorted(first(i, "00080018") for i in instances) == sorted(sources), "instances")

        # WADO-RS: study, series, instance, byte for byte.
        check(raw("/studies/" + local) == sorted(sources.values()), "study bytes")
        check(sorted(d.SOPInstanceUID for d in c.retrieve_study(local)) == sorted(sources), "retrieve_study")
        s = first(series[0], "0020000E")
        in_series = [sources[first(i, "00080018")] for i in instances if first(i, "0020000E") == s]
        check(raw("/studies/%s/series/%s" % (local, s)) == sorted(in_series), "series bytes")
        check(len(c.retrieve_series(local, s)) == len(in_series), "retrieve_series")
        i = next(i for i in instances if first(i, "0020000E") == s)
        sop = first(i, "00080018")
        check(raw("/studies/%s/series/%s/instances/%s" % (local, s, sop)) == [sources[sop]], "instance bytes")
        check(c.retrieve_instance(local, s, sop).SOPInstanceUID == sop, "retrieve_instance")

        # Metadata, without bulk data.
        metadata = c.retrieve_study_metadata(local)
        check(len(metadata) == len(sources), "study metadata")
        check(all(first(m, "00280010") == cfg["rows"] for m in metadata), "Rows from the headers")
        check(all("7FE00010" not in m for m in metadata), "no PixelData in metadata")
        # Every attribute pydicom finds in the source file, with the same values (Pixel Data left out).
        for m in metadata:
            sop_uid = first(m, "00080018")
            reference = pydicom.dcmread(cfg["sources"][sop_uid]).to_json_dict()
            for tag, attribute in reference.items():
                if tag == "7FE00010" or tag == "00080005":
                    continue
                check(tag in m, "metadata lacks %s" % tag)
                check(m[tag].get("Value") == attribute.get("Value"),
                      "%s: %s, pydicom %s" % (tag, m[tag].get("Value"), attribute.get("Value")))
        check(len(c.retrieve_series_metadata(local, s)) == len(in_series), "series metadata")
        check(first(c.retrieve_instance_metadata(local, s, sop), "00080018") == sop, "instance metadata")

        # STOW-RS, then the stored instances come back as posted.
        datasets = [pydicom.dcmread(p) for p in cfg["stow"]]
        posted = []
        for ds in datasets:
            b = io.BytesIO()
            pydicom.dcmwrite(b, ds)  # as store_instances encodes them
            posted.append(b.getvalue())
        result = c.store_instances(datasets, study_instance_uid=cfg["stowStudy"])
        check(len(result.get("ReferencedSOPSequence", [])) == len(datasets), "ReferencedSOPSequence")
        check("FailedSOPSequence" not in result, "no failures")
        check(raw("/studies/" + cfg["stowStudy"]) == sorted(posted), "stored bytes come back")
        found = [first(s, "0020000D") for s in c.search_for_studies(search_filters={"PatientID": cfg["patient"]})]
        check(cfg["stowStudy"] in found, "the stored study is listed")
        print("OK")
        """#

    func run(_ arguments: [String]) async throws -> ProcessResult { try await CommandRunner.trustmesh(arguments) }

    /// Synthesizes a study and returns its files by SOP Instance UID.
    func synthesize(
        _ network: TestNetwork, uid: String, patient: String = patient, arguments: [String], folder name: String? = nil
    ) async throws -> [String: String] {
        let folder = network.directory.appending(name ?? "in-\(uid)")
        let made = try await run(
            ["synthesize", "--out", folder, "--patient-id", patient, "--study-uid", uid, "--size", "64"] + arguments)
        #expect(made.status == 0, "\(made.stderr)")
        var files: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let relative = enumerator?.nextObject() as? String {
            guard relative.hasSuffix(".dcm") else { continue }
            let path = folder + "/" + relative
            files[try #require(try DICOMReader.read(path: path).attributes.sopInstanceUID)] = path
        }
        return files
    }

    /// One request with `token` as its bearer token (nil: none).
    func http(
        _ url: String, token: String?, method: HTTPMethod = .GET, headers: [(String, String)] = [],
        body: [UInt8]? = nil
    ) async throws -> (status: Int, headers: [(String, String)], body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        return (Int(response.status.code), response.headers.map { ($0.name, $0.value) }, text)
    }

    static func multipart(_ parts: [[UInt8]], boundary: String = "b0undary") -> [UInt8] {
        var body: [UInt8] = []
        for part in parts {
            body += Array("--\(boundary)\r\nContent-Type: application/dicom\r\n\r\n".utf8) + part + Array("\r\n".utf8)
        }
        return body + Array("--\(boundary)--\r\n".utf8)
    }

    static let stowType = "multipart/related; type=\"application/dicom\"; boundary=b0undary"

    @Test func dicomwebClientSearchesRetrievesByteForByteAndStoresAcrossTwoTrusts() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"])
        try await network.start("RRK")
        try await network.start("RKB")
        let sources = try await synthesize(
            network, uid: Self.localStudy, arguments: ["--series", "2", "--instances", "3"])
        #expect(
            try await run([
                "ingest", "--data", network.dataDirectory("RRK"), network.directory.appending("in-\(Self.localStudy)"),
            ]).status == 0)
        _ = try await synthesize(network, uid: Self.remoteStudy, arguments: ["--instances", "2", "--modality", "MR"])
        #expect(
            try await run([
                "ingest", "--data", network.dataDirectory("RKB"), network.directory.appending("in-\(Self.remoteStudy)"),
            ]).status == 0)
        let stow = try await synthesize(network, uid: Self.stowStudy, arguments: ["--instances", "2"])
        try await poll("RRK to list RKB's study", deadline: .seconds(30)) {
            let result = try? await LocalAPIClient.query(node: network.api("RRK"), nhs: NHSNumber(Self.patient))
            return result?.studies.contains { $0.studyInstanceUID == Self.remoteStudy } == true
        }

        let configuration: [String: Any] = [
            "url": network.url("RRK") + "/dicom-web", "token": network.testToken("RRK"), "patient": Self.patient,
            "local": Self.localStudy, "remote": Self.remoteStudy, "holder": "RKB", "sources": sources, "rows": 64,
            "stow": Array(stow.values).sorted(), "stowStudy": Self.stowStudy,
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: configuration), as: UTF8.self)
        let result = try await CommandRunner.run("/usr/bin/env", ["python3", "-c", Self.script, json])
        #expect(
            result.status == 0 && result.stdout.contains("OK"),
            "python3 with dicomweb-client is needed (Scripts/setup)\n\(result.stdout)\(result.stderr)\n\(network.log("RRK"))"
        )

        // Once fetched (care-gated), RKB's study is held here too: ONLINE, with a RetrieveURL.
        #expect(
            try await network.cli(
                "RRK",
                [
                    "care", "add", "--node", network.url("RRK"), "--nhs", Self.patient, "--kind", "referral",
                ]
            ).status == 0)
        let fetched = try await network.cli(
            "RRK", ["fetch", "--node", network.url("RRK"), "--study", Self.remoteStudy])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let token = network.testToken("RRK")
        let after = try await http(
            network.url("RRK") + "/dicom-web/studies?PatientID=\(Self.patient)&StudyInstanceUID=\(Self.remoteStudy)",
            token: token)
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(after.body.utf8)) as? [[String: Any]])
        #expect(listed.count == 1)
        #expect((listed.first?["00080056"] as? [String: Any])?["Value"] as? [String] == ["ONLINE"])
        #expect(
            ((listed.first?["00081190"] as? [String: Any])?["Value"] as? [String])?.first?.hasSuffix(Self.remoteStudy)
                == true)
        #expect(
            try await http(network.url("RRK") + "/dicom-web/studies/\(Self.remoteStudy)", token: token).status == 200)

        // Every DICOMweb action is in RRK's signed audit log, naming the person the token is for.
        let log = network.directory.appending("rrk-audit.jsonl")
        #expect(try await run(["audit", "export", "--data", network.dataDirectory("RRK"), "--out", log]).status == 0)
        let entries = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let byClient = entries.filter { $0["actor"] as? String == "Test user at RRK" }
        let kinds = Set(byClient.compactMap { $0["kind"] as? String })
        #expect(kinds.isSuperset(of: ["query", "retrieve", "ingest"]), "\(kinds)")
        let retrieved = byClient.filter { $0["kind"] as? String == "retrieve" }
        #expect(retrieved.contains { ($0["subject"] as? [String: String])?["nhsNumber"] == Self.patient })
    }

    /// curl asks `Expect: 100-continue` before any body over 1 MB and, unanswered, waits out a
    /// timeout before sending it. The node answers 100 at once; the timeout here is set far beyond
    /// the test's run so that only the interim answer can explain curl sending the body.
    @Test func aClientThatExpects100ContinueIsToldToSendItsBody() async throws {
        let network = try TestNetwork(trusts: ["RRK"], intervalMs: 60_000)
        try await network.start("RRK")
        let files = try await synthesize(network, uid: Self.stowStudy, arguments: ["--instances", "1"])
        let body = network.directory.appending("stow.multipart")
        let bytes = Self.multipart([[UInt8](try Data(contentsOf: URL(fileURLWithPath: files.values.first!)))])
        try Data(bytes).write(to: URL(fileURLWithPath: body))
        func post(_ contentType: String) async throws -> ProcessResult {
            try await CommandRunner.run(
                "/usr/bin/curl",
                [
                    "-sS", "-v", "--expect100-timeout", "600", "--max-time", "120", "-H", "Expect: 100-continue",
                    "-H", "Authorization: Bearer \(network.testToken("RRK"))", "-H", "Content-Type: \(contentType)",
                    "--data-binary", "@" + body, "-o", "/dev/null",
                    "-w", "%{http_code}", network.url("RRK") + "/dicom-web/studies",
                ])
        }
        let curl = try await post(Self.stowType)
        #expect(curl.stdout == "200", "\(curl.stderr)")
        #expect(curl.stderr.contains("HTTP/1.1 100 Continue"), "\(curl.stderr)")
        // A request that asks and is refused still gets its final answer after the interim one.
        let refused = try await post("text/plain")
        #expect(refused.stdout == "415", "\(refused.stderr)")
    }

    /// A STOW-RS larger than the node's free disk: 507 with a reason, nothing stored, no temporary
    /// part left, the failure audited. The node runs on a 1.5 MB tmpfs in its own user and mount
    /// namespace, signing people in at the test network's identity provider; everything outside it
    /// is read after the node has stopped.
    @Test(.enabled(if: CommandRunner.canMountTmpfs, "needs unshare -Urm to mount a small tmpfs"))
    func aStoreLargerThanTheDiskIsRefusedWith507AndLeavesNothing() async throws {
        // The network's topology, keys, access file and test token; the node is started here.
        let network = try TestNetwork(trusts: ["RRK"])
        let dir = network.directory
        let access = try await network.accessFile("RRK")
        let token = try await network.mintTestToken("RRK")
        let made = try await run([
            "synthesize", "--out", dir.appending("in"), "--instances", "20", "--size", "512", "--study-uid",
            Self.stowStudy,
        ])
        #expect(made.status == 0)
        var parts: [[UInt8]] = []
        for name in try FileManager.default.subpathsOfDirectory(atPath: dir.appending("in")).sorted()
        where name.hasSuffix(".dcm") {
            parts.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.appending("in/" + name)))))
        }
        try Data(Self.multipart(parts)).write(to: URL(fileURLWithPath: dir.appending("stow.multipart")))
        try FileManager.default.createDirectory(atPath: dir.appending("disk"), withIntermediateDirectories: true)
        let script = """
            set -u
            disk="$1"; out="$2"; bin="$3"; local="$4"; type="$5"; access="$6"; token="$7"; url="http://$local"
            mount -t tmpfs -o size=1500k tmpfs "$disk" || exit 90
            cp -a "$out/net/RRK" "$disk/RRK" || exit 91
            "$bin" node run --data "$disk/RRK" --topology "$out/net/topology.json" --local-address "$local" \\
              --access "$access" > "$out/node.log" 2>&1 &
            pid=$!
            tries=0
            until curl -sf "$url/health" > /dev/null; do
              tries=$((tries + 1)); [ "$tries" -lt 300 ] || { kill "$pid"; exit 92; }; sleep 0.1
            done
            curl -s -o "$out/stow.json" -w "%{http_code}" -H "Authorization: Bearer $token" \\
              -H "Content-Type: $type" --data-binary @"$out/stow.multipart" "$url/dicom-web/studies" > "$out/stow.code"
            curl -s -H "Authorization: Bearer $token" "$url/api/v1/status" > "$out/status.json"
            ls -A "$disk/RRK/tmp" > "$out/tmp-left" 2> /dev/null
            kill -TERM "$pid"; wait "$pid"
            "$bin" audit export --data "$disk/RRK" --out "$out/audit.jsonl" > /dev/null
            """
        let ran = try await CommandRunner.run(
            "/usr/bin/unshare",
            [
                "-Urm", "sh", "-c", script, "sh", dir.appending("disk"), dir.path, CommandRunner.trustmeshPath,
                network.localAddress("RRK"), Self.stowType, access, token,
            ])
        #expect(
            ran.status == 0,
            "\(ran.stderr)\n\((try? String(contentsOfFile: dir.appending("node.log"), encoding: .utf8)) ?? "")")
        func read(_ name: String) throws -> String { try String(contentsOfFile: dir.appending(name), encoding: .utf8) }
        let answer = try read("stow.json")
        #expect(try read("stow.code") == "507", "\(answer)")
        #expect(answer.contains("disk is full"))
        let statusText = try read("status.json")
        let status = try JSONSerialization.jsonObject(with: Data(statusText.utf8)) as? [String: Any]
        #expect(status?["instances"] as? Int == 0, "\(statusText)")
        #expect(try read("tmp-left").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        #expect(try read("audit.jsonl").contains("\"ingestFailed\""))
    }

    @Test func badRequestsAreRefusedWithTheirStatusAndAMalformedPartFailsAlone() async throws {
        let network = try TestNetwork(trusts: ["RRK", "RKB"], intervalMs: 60_000)
        try await network.start("RRK")
        let sources = try await synthesize(network, uid: Self.localStudy, arguments: ["--instances", "2"])
        #expect(
            try await run([
                "ingest", "--data", network.dataDirectory("RRK"), network.directory.appending("in-\(Self.localStudy)"),
            ]).status == 0)
        let base = network.url("RRK") + "/dicom-web"
        let token = network.testToken("RRK")

        // QIDO: bad values and unknown keys are 400 with a reason; unmatched keys are a Warning.
        for query in ["StudyDate=2024", "PatientID=1234567890", "ModalitiesInStudy=ct", "limit=-1", "Nonsense=1"] {
            let answer = try await http(base + "/studies?" + query, token: token)
            #expect(answer.status == 400, "\(query): \(answer.body)")
            #expect(answer.body.contains("error"))
        }
        // Without PatientID: the studies held here, narrowed by date, accession (wildcards) and UID.
        for (query, found) in [
            ("AccessionNumber=AC?0*", true), ("AccessionNumber=XYZ*", false), ("StudyDate=20260314", true),
            ("StudyDate=19000101-19001231", false), ("StudyInstanceUID=1.2.3,\(Self.localStudy)", true),
            ("StudyDate=20260101-&ModalitiesInStudy=MR", false),
        ] {
            let answer = try await http(base + "/studies?" + query, token: token)
            #expect(answer.status == 200 && answer.body.contains(Self.localStudy) == found, "\(query): \(answer.body)")
        }
        let warned = try await http(base + "/studies?PatientName=DOE*", token: token)
        #expect(warned.status == 200)
        #expect(warned.headers.contains { $0.0.lowercased() == "warning" && $0.1.contains("PatientName") })
        #expect(
            try await http(base + "/studies", token: token, headers: [("Accept", "application/dicom+xml")]).status
                == 406)

        // WADO: unknown UIDs are 404, unsupported media types 406.
        #expect(try await http(base + "/studies/1.2.999", token: token).status == 404)
        #expect(try await http(base + "/studies/1.2.999/metadata", token: token).status == 404)
        #expect(try await http(base + "/studies/\(Self.localStudy)/series/1.2.999", token: token).status == 404)
        #expect(try await http(base + "/studies/not-a-uid", token: token).status == 400)
        #expect(
            try await http(base + "/studies/\(Self.localStudy)", token: token, headers: [("Accept", "image/jpeg")])
                .status == 406)
        let transcode = try await http(
            base + "/studies/\(Self.localStudy)", token: token,
            headers: [
                ("Accept", "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.50")
            ])
        #expect(transcode.status == 406 && transcode.body.contains("does not transcode"))
        let whole = try await http(base + "/studies/\(Self.localStudy)", token: token)
        #expect(whole.status == 200)

        // STOW: one good part and one that is not DICOM: 202, the good one stored, the bad one failed
        // with 0xC000 and nothing of it kept.
        let good = try await synthesize(
            network, uid: "1.2.826.0.1.3680043.10.11.9", patient: Self.patient, arguments: ["--instances", "1"])
        let goodBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good.values.first!)))
        let before = try #require(try? await LocalAPIClient.status(node: network.api("RRK")))
        let mixed = try await http(
            base + "/studies", token: token, method: .POST, headers: [("Content-Type", Self.stowType)],
            body: Self.multipart([goodBytes, Array("this is not DICOM".utf8)]))
        #expect(mixed.status == 202, "\(mixed.body)")
        let response = try #require(
            try JSONSerialization.jsonObject(with: Data(mixed.body.utf8)) as? [String: [String: Any]])
        let stored = try #require(response["00081199"]?["Value"] as? [[String: [String: Any]]])
        #expect(stored.first?["00081155"]?["Value"] as? [String] == [good.keys.first!])
        let failed = try #require(response["00081198"]?["Value"] as? [[String: [String: Any]]])
        #expect(failed.first?["00081197"]?["Value"] as? [Int] == [0xC000])
        #expect(mixed.headers.contains { $0.0.lowercased() == "warning" && $0.1.contains("not DICOM") })
        let after = try #require(try? await LocalAPIClient.status(node: network.api("RRK")))
        #expect(after.instances == before.instances + 1)

        // Nothing stored: 409. A part for another study than the path names: 0xA900.
        let none = try await http(
            base + "/studies", token: token, method: .POST, headers: [("Content-Type", Self.stowType)],
            body: Self.multipart([Array("garbage".utf8)]))
        #expect(none.status == 409)
        let wrongStudy = try await http(
            base + "/studies/1.2.3.4", token: token, method: .POST, headers: [("Content-Type", Self.stowType)],
            body: Self.multipart([goodBytes]))
        #expect(wrongStudy.status == 409 && wrongStudy.body.contains("43264"), "\(wrongStudy.body)")
        // Another patient's instance in a study held here: refused by the store, as `ingest` refuses it.
        let intruder = try await synthesize(
            network, uid: Self.localStudy, patient: Self.otherPatient, arguments: ["--instances", "1", "--seed", "9"],
            folder: "intruder")
        let mismatch = try await http(
            base + "/studies", token: token, method: .POST, headers: [("Content-Type", Self.stowType)],
            body: Self.multipart([[UInt8](try Data(contentsOf: URL(fileURLWithPath: intruder.values.first!)))]))
        #expect(mismatch.status == 409 && mismatch.body.contains("272"), "\(mismatch.body)")
        #expect(mismatch.headers.contains { $0.0.lowercased() == "warning" && $0.1.contains("NHS number ending") })
        #expect(!mismatch.headers.contains { $0.1.contains(network.dataDirectory("RRK")) })

        // A client that drops mid-request: nothing is stored, the temporary parts go, the node serves on.
        let dropper = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            part = open(sys.argv[2], "rb").read()
            body = b"--b0undary\\r\\nContent-Type: application/dicom\\r\\n\\r\\n" + part
            s.sendall(b"POST /dicom-web/studies HTTP/1.1\\r\\nHost: 127.0.0.1:" + sys.argv[1].encode()
                      + b"\\r\\nAuthorization: Bearer " + sys.argv[4].encode()
                      + b"\\r\\nContent-Type: " + sys.argv[3].encode()
                      + b"\\r\\nContent-Length: %d\\r\\n\\r\\n" % (len(body) * 2) + body)
            s.close()
            """
        let port = String(network.url("RRK").split(separator: ":").last!)
        let instancesBefore = try #require(try? await LocalAPIClient.status(node: network.api("RRK"))).instances
        let dropped = try await CommandRunner.run(
            "/usr/bin/env", ["python3", "-c", dropper, port, intruder.values.first!, Self.stowType, token])
        #expect(dropped.status == 0, "\(dropped.stderr)")
        try await poll("RRK to log the dropped request", deadline: .seconds(30)) {
            network.log("RRK").contains("DICOMweb request failed")
        }
        let scratch = network.dataDirectory("RRK") + "/tmp"
        try await poll("the dropped request's parts to be removed", deadline: .seconds(30)) {
            let left = (try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? []
            return !left.contains { $0.hasPrefix("stow-") }
        }
        #expect(try await http(base + "/studies", token: token).status == 200)
        #expect(try #require(try? await LocalAPIClient.status(node: network.api("RRK"))).instances == instancesBefore)

        // Framing that is not multipart at all, and other media types.
        #expect(
            try await http(
                base + "/studies", token: token, method: .POST, headers: [("Content-Type", Self.stowType)],
                body: Array("no parts".utf8)
            ).status == 400)
        #expect(
            try await http(
                base + "/studies", token: token, method: .POST, headers: [("Content-Type", "application/dicom")],
                body: goodBytes
            )
            .status == 415)

        // An opted-out patient: nothing, as the local API's query shows nothing.
        let theirs = "1.2.826.0.1.3680043.10.11.8"
        _ = try await synthesize(network, uid: theirs, patient: Self.otherPatient, arguments: ["--instances", "1"])
        #expect(
            try await run([
                "ingest", "--data", network.dataDirectory("RRK"), network.directory.appending("in-\(theirs)"),
            ])
            .status == 0)
        #expect(try await http(base + "/studies/\(theirs)/metadata", token: token).status == 200)
        #expect(
            try await run([
                "optout", "--data", network.dataDirectory("RRK"), "--nhs", Self.otherPatient, "--reference",
                "Opt-out form OPT-1",
            ]).status == 0)
        #expect(try await http(base + "/studies?PatientID=\(Self.otherPatient)", token: token).body == "[]")
        #expect(!(try await http(base + "/studies", token: token).body.contains(theirs)))
        #expect(try await http(base + "/studies/\(theirs)", token: token).status == 404)
        _ = sources
    }
}
