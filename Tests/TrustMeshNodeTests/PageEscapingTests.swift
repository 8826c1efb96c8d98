import Foundation
import NIOHTTP1
import Testing
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshNodeTesting
import TrustMeshTesting

/// The page shows values from DICOM files, from other trusts (by gossip and in a fetched manifest),
/// from the topology, from the identity provider (a signed-in person's name) and from what people
/// type, and shows each of them only escaped: real node processes and identity provider, hostile
/// values in every field the page shows.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PageEscapingTests {
    static let patient = "9434765919"
    static let study = "1.2.826.0.1.3680043.10.81.1"
    static let policy =
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// A value that breaks out of an element or a quoted attribute unless escaped, tagged with the
    /// field it goes in so a failure names the field. `"` followed by a combining accent is one
    /// `Character` but still a `"` to the browser.
    static func hostile(_ field: String) -> String {
        "\(field)<script>alert(1)</script>\(joinedQuote)' & </td>\(field)"
    }

    /// A `"` that a combining accent joins to the next character. (A constant, not a literal in
    /// `#expect`: the macro re-quotes a literal's value `Character` by `Character` and fails to
    /// compile on this one.)
    static let joinedQuote = "\"\u{301}"
    static let fields = ["DESC", "ACC", "BODY", "SERIES", "PN", "DR", "WHY", "TRUSTA", "TRUSTB"]

    /// The same escaped as the page must show it (written out here, not taken from the code under test).
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static let description = hostile("DESC")
    static let accession = hostile("ACC")
    static let bodyPart = hostile("BODY")
    static let seriesDescription = hostile("SERIES")
    /// On no page today; checked to be nowhere raw.
    static let patientName = hostile("PN")
    /// The clinician's name as the identity provider gives it (the `name` claim of their token).
    static let clinician = "Dr " + hostile("DR")
    /// Why care began, as typed in the care form.
    static let reason = "Follow-up " + hostile("WHY")
    static let holderName = "Holder " + hostile("TRUSTA")
    static let requesterName = "Requester " + hostile("TRUSTB")
    static let all = [
        description, accession, bodyPart, seriesDescription, patientName, clinician, reason, holderName,
        requesterName,
    ]

    struct Page {
        var path: String
        var status: Int
        var headers: [(String, String)]
        var body: String

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    /// A page as a signed-in person's browser asks for it (redirects not followed).
    static func get(_ url: String, as session: TestNetwork.PageSession) async throws -> Page {
        let answer = try await TestNetwork.request(.GET, url, headers: session.headers)
        return Page(
            path: url, status: answer.status, headers: answer.headers.map { ($0.key, $0.value) }, body: answer.body)
    }

    /// A form posted from the page by a signed-in person (their cookie, the page's Origin, the
    /// session's CSRF token); the answer itself, not where a redirect leads.
    static func post(_ url: String, form: [String: String], as session: TestNetwork.PageSession) async throws -> Page {
        let answer = try await TestNetwork.postForm(url, form, as: session)
        return Page(
            path: url, status: answer.status, headers: answer.headers.map { ($0.key, $0.value) }, body: answer.body)
    }

    /// Whether `text`'s bytes occur in `body`'s (`String.contains` compares whole `Character`s, which
    /// would miss a `"` that a combining accent joins to the next character).
    static func has(_ body: String, _ text: String) -> Bool {
        Array(body.utf8).firstRange(of: Array(text.utf8)) != nil
    }

    /// Checks that a page has the strict policy header, shows each of `shown` escaped, and has no
    /// hostile value (or the dangerous part of one) unescaped.
    static func expectEscaped(_ page: Page, shows shown: [String], status: Int = 200) {
        #expect(page.status == status, "\(page.path): \(page.body.prefix(500))")
        #expect(page.header("Content-Type") == "text/html; charset=utf-8", "\(page.path)")
        #expect(page.header("Content-Security-Policy") == policy, "\(page.path)")
        for value in shown {
            #expect(has(page.body, escaped(value)), "\(page.path) does not show \(value) escaped")
        }
        #expect(!has(page.body, "<script>alert(1)</script>"), "\(page.path) has a raw script element")
        #expect(!has(page.body, joinedQuote), "\(page.path) has a raw quote from a value")
        for value in all { #expect(!has(page.body, value), "\(page.path) has \(value) raw") }
        for field in fields { #expect(!has(page.body, "</td>" + field), "\(page.path) has a raw </td> from \(field)") }
    }

    /// RRK holds a study whose every shown attribute is hostile, RKB (the requester) learns of it by
    /// gossip, a clinician whose name (from the identity provider) is hostile records a care
    /// relationship and fetches it (so RKB's catalogue takes the values from RRK's manifest), a care
    /// form with a hostile reason is refused, and every page on RKB shows the values escaped.
    @Test func valuesFromFilesPeersTopologyAndFormsAreShownOnlyEscaped() async throws {
        let network = try TestNetwork(
            trusts: ["RRK", "RKB"], names: ["RRK": Self.holderName, "RKB": Self.requesterName])
        try await network.start("RRK")
        try await network.start("RKB")
        let input = network.directory.appending("in")
        let made = try await CommandRunner.trustmesh([
            "synthesize", "--out", input, "--patient-id", Self.patient, "--patient-name", Self.patientName,
            "--date", "20260101", "--description", Self.description, "--body-part", Self.bodyPart, "--accession",
            Self.accession, "--instances", "3", "--size", "64", "--study-uid", Self.study,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        // The series description is fixed by `synthesize`; dcmtk sets it as another system would.
        let files = try FileManager.default.contentsOfDirectory(atPath: input).map { input + "/" + $0 }
        try Dcmtk.run("dcmodify", ["-nb", "-m", "(0008,103e)=\(Self.seriesDescription)"] + files)
        let ingested = try await CommandRunner.trustmesh(["ingest", "--data", network.dataDirectory("RRK"), input])
        #expect(ingested.status == 0, "\(ingested.stdout)\(ingested.stderr)")
        let node = network.url("RKB")
        // Pages are seen by people signed in through the provider's login form: the clinician, the
        // operator (the operator view) and information governance (the audit trail).
        let priya = try await network.signIn("RKB", user: "priya")
        let olu = try await network.signIn("RKB", user: "olu")
        let ines = try await network.signIn("RKB", user: "ines")
        // A clinician whose provider gives a hostile name, acting through the API with a bearer token.
        let hostile = NodeEndpoint(
            url: node, token: try await network.token("RKB", user: "priya", claims: ["name": Self.clinician]))
        try await poll("RKB to learn of the study by gossip", deadline: .seconds(60)) {
            let result = try? await LocalAPIClient.query(node: network.api("RKB"), nhs: NHSNumber(Self.patient))
            return result?.studies.contains { $0.studyInstanceUID == Self.study } == true
        }

        // Gossip: the index record's description, accession and body part; the holder's name.
        let listed = try await Self.get(node + "/patient?nhs=\(Self.patient)", as: priya)
        Self.expectEscaped(
            listed, shows: [Self.description, Self.accession, Self.bodyPart, Self.holderName, Self.requesterName])
        #expect(Self.has(listed.body, "aria-label=\"Fetch \(Self.escaped(Self.description)) from RRK\""))

        // A care form refused: the hostile reason comes back in the field's value.
        let refused = try await Self.post(
            node + "/care", form: ["nhs": Self.patient, "reason": Self.reason, "kind": "mdt", "expires": "2001-01-01"],
            as: priya)
        Self.expectEscaped(refused, shows: [Self.reason], status: 400)
        #expect(Self.has(refused.body, "value=\"\(Self.escaped(Self.reason))\""))

        // Not held here yet: what the viewer shows later came in the fetched manifest.
        Self.expectEscaped(try await Self.get(node + "/study?uid=\(Self.study)", as: priya), shows: [], status: 404)

        // The care relationship and the fetch name the clinician as the provider names them.
        let care = try await LocalAPIClient.addCare(
            node: hostile, nhs: Self.patient, kind: "mdt", reason: Self.reason, justification: nil, expires: nil)
        #expect(care.clinician == Self.clinician)
        let started = try await LocalAPIClient.startFetch(node: hostile, study: Self.study, from: "RRK")
        let id = started.id
        try await poll("the fetch to complete", deadline: .seconds(60)) {
            (try? await LocalAPIClient.fetchProgress(node: network.api("RKB"), id: id))?.state == .completed
        }

        let patientPage = try await Self.get(node + "/patient?nhs=\(Self.patient)", as: priya)
        Self.expectEscaped(
            patientPage,
            shows: [
                Self.description, Self.accession, Self.bodyPart, Self.holderName, Self.requesterName, Self.clinician,
            ])
        for path in ["/fetches", "/fetch/\(id)"] {
            let page = try await Self.get(node + path, as: priya)
            Self.expectEscaped(page, shows: [Self.description, Self.holderName, Self.clinician])
            // The JSON data block is JSON, not escaped HTML (SafeHTMLTests checks its `<` guard).
            let block = try #require(Self.ruleSentences(page.body), "\(path) has no rule sentences")
            #expect((try? JSONSerialization.jsonObject(with: Data(block.utf8))) is [String: String], "\(path)")
        }
        // The box the script swaps in is a fragment, sent with the same headers.
        Self.expectEscaped(
            try await Self.get(node + "/fetch/\(id)?part=1", as: priya),
            shows: [Self.description, Self.holderName, Self.clinician])

        // The fetched manifest: RKB's catalogue now holds RRK's values.
        let viewer = try await Self.get(node + "/study?uid=\(Self.study)", as: priya)
        Self.expectEscaped(viewer, shows: [Self.description, Self.accession, Self.bodyPart, Self.seriesDescription])
        #expect(Self.has(viewer.body, "<title>\(Self.escaped(Self.description)) — TrustMesh</title>"))

        let priors = try await Self.get(
            node + "/priors?"
                + TestNetwork.formEncoded([
                    "nhs": Self.patient, "modality": "CT", "bodyPart": Self.bodyPart, "months": "120",
                ]),
            as: priya)
        Self.expectEscaped(priors, shows: [Self.description, Self.accession, Self.bodyPart, Self.holderName])

        let operatorPage = try await Self.get(node + "/operator", as: olu)
        Self.expectEscaped(operatorPage, shows: [Self.holderName, Self.requesterName])

        let audit = try await Self.get(
            node + "/audit?" + TestNetwork.formEncoded(["clinician": Self.clinician]), as: ines)
        Self.expectEscaped(audit, shows: [Self.clinician])
        #expect(Self.has(audit.body, "<td>\(Self.escaped(Self.clinician))</td>"), "the actor column")
    }

    /// The text of the page's JSON data block, if it has one.
    static func ruleSentences(_ body: String) -> String? {
        let open = "<script type=\"application/json\" id=\"rule-sentences\">"
        guard let start = body.range(of: open),
            let end = body.range(of: "</script>", range: start.upperBound..<body.endIndex)
        else { return nil }
        return String(body[start.upperBound..<end.lowerBound])
    }
}
