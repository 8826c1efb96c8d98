import Foundation
import Hummingbird
import TrustMeshAccess
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshPrefetch

/// The worklist pages: each clinic's and MDT meeting's list with where every patient's prior
/// imaging stands, and the upload of a list (CSV) by a signed-in clinician.
///
/// | route | what |
/// |---|---|
/// | `GET /worklists` | the lists the feeds and uploads made, newest day first; the upload form |
/// | `GET /worklist?day=&place=` | one list: each patient's status (nothing elsewhere, waiting for its window, fetching with progress, ready, refused with the rule, opted out) |
/// | `POST /worklists/upload` | form: a list (`kind` clinic or mdt, `csv`), read whole before any row is used |
extension WebUI {
    func worklistsPage(notice: SafeHTML? = nil, status: HTTPResponse.Status = .ok, csv: String = "") -> Response {
        var body: SafeHTML = """
            <h1>Clinic and MDT worklists</h1>
            <p>Patients the hospital's feeds and uploaded lists have booked into clinics and meetings, with their \
            prior imaging from other trusts, fetched ahead by the pre-fetch rules.</p>
            """
        if let notice { body += notice }
        guard let prefetcher = services.prefetcher else {
            body += """
                <p id="no-prefetch">This node runs without pre-fetch rules (<code>trustmesh node run \
                --prefetch-rules FILE</code>), so nothing is fetched ahead.</p>
                """
            return HTML.response(
                status, HTML.page(title: "Worklists", node: nodeLabel, current: "/worklists", body: body))
        }
        let lists: [(day: String, place: String, patients: Int)]
        do { lists = try prefetcher.worklists() } catch { return failure(error, doing: "list the worklists") }
        if lists.isEmpty {
            body += "<p id=\"no-worklists\">No clinic or meeting is listed yet.</p>"
        } else {
            body += """
                <table id="worklists"><thead><tr><th>Day</th><th>Clinic or meeting</th><th>Patients</th></tr></thead><tbody>
                """
            for list in lists {
                let link = "/worklist?day=\(HTML.query(list.day))&place=\(HTML.query(list.place))"
                body += """
                    <tr><td>\(list.day)</td><td><a href="\(link)">\(list.place.isEmpty ? "(not named)" : list.place)</a>\
                    </td><td class="num">\(list.patients)</td></tr>
                    """
            }
            body += "</tbody></table>"
        }
        if services.deliverFeed != nil {
            body += """
                <h2>Upload a list</h2>
                <form method="post" action="/worklists/upload" id="upload-list">\(HTML.csrfField)
                <p><label>List of <select name="kind"><option value="clinic">a clinic</option>\
                <option value="mdt">an MDT meeting</option></select></label></p>
                <p><label for="csv">One patient a line: NHS number, date and time (YYYY-MM-DD HH:MM, the trust's \
                time), clinic or meeting, clinician</label><br>
                <textarea id="csv" name="csv" rows="10" cols="80" required \
                placeholder="943 476 5919, 2026-12-07 09:30, Respiratory clinic, Dr A Khan">\(csv)</textarea></p>
                <p><button type="submit">Plan the pre-fetch</button></p></form>
                """
        }
        return HTML.response(status, HTML.page(title: "Worklists", node: nodeLabel, current: "/worklists", body: body))
    }

    func worklistPage(_ fields: [String: String]) -> Response {
        let day = fields["day"] ?? ""
        let place = fields["place"] ?? ""
        guard let prefetcher = services.prefetcher else { return worklistsPage() }
        let list: Worklist
        do { list = try prefetcher.worklist(day: day, place: place) } catch {
            return failure(error, doing: "read the worklist")
        }
        let ready = list.entries.filter { $0.status == .ready }.count
        var body: SafeHTML = """
            <h1>\(place.isEmpty ? "Worklist" : place), \(day)</h1>
            <p>\(list.entries.count) \(list.entries.count == 1 ? "patient" : "patients"); prior imaging ready for \
            \(ready). <a href="/worklists">All worklists</a></p>
            """
        guard !list.entries.isEmpty else {
            body += "<p id=\"empty-worklist\">Nobody is listed for this clinic or meeting on this day.</p>"
            return HTML.response(.ok, HTML.page(title: "Worklist", node: nodeLabel, current: "/worklists", body: body))
        }
        body += """
            <table id="worklist"><thead><tr><th>Time</th><th>NHS number</th><th>Clinician</th><th>Prior imaging</th>\
            <th>Studies</th></tr></thead><tbody>
            """
        for entry in list.entries {
            let studies = entry.studies.map { study -> SafeHTML in
                study.state == "ready"
                    ? "<a href=\"/study?uid=\(HTML.query(study.uid))\">\(study.uid)</a> (\(study.holder))"
                    : "\(study.uid) (\(study.holder), \(study.state))"
            }
            body += """
                <tr data-nhs="\(entry.nhsNumber.digits)" data-status="\(entry.status.name)">\
                <td>\(entry.at.map(Self.clock) ?? "")</td>\
                <td><a href="/patient?nhs=\(entry.nhsNumber.digits)">\(entry.nhsNumber.formatted)</a></td>\
                <td>\(entry.clinician ?? "not named")</td><td>\(Self.describe(entry.status, rule: entry.rule))</td>\
                <td>\(studies.joined(separator: "<br>"))</td></tr>
                """
        }
        body += "</tbody></table>"
        return HTML.response(
            .ok, HTML.page(title: "Worklist", node: nodeLabel, current: "/worklists", refresh: true, body: body))
    }

    /// Reads an uploaded list whole, audits each row as `feedReceived` by the signed-in clinician,
    /// and hands each to the pre-fetch engine as a feed's event would be.
    func uploadList(_ request: Request) async -> Response {
        let form = await HTML.formBody(of: request)
        let csv = form["csv"] ?? ""
        guard let deliver = services.deliverFeed, let person = Caller.current?.person else {
            return WebUI.messagePage(
                .forbidden, title: "Not allowed", message: "Sign in as a clinician to upload a list.")
        }
        guard let kind = ClinicList.Kind(rawValue: form["kind"] ?? "") else {
            return worklistsPage(notice: Self.problem("Choose a clinic or an MDT meeting list."), status: .badRequest)
        }
        let events: [FeedEvent]
        do {
            events = try ClinicList.events(
                csv, kind: kind, source: "\(kind.rawValue) list uploaded by \(person.name) (\(person.subject))")
        } catch {
            try? node.audit(
                .feedRefused, actor: viewer, subject: [.rule: "list"], details: "an uploaded list: \(error)")
            return worklistsPage(
                notice: Self.problem("The list was not used: \(error.description). Nothing was planned."),
                status: .unprocessableContent, csv: csv)
        }
        guard !events.isEmpty else {
            return worklistsPage(notice: Self.problem("The list is empty."), status: .badRequest, csv: csv)
        }
        do {
            for event in events {
                try node.auditFeedReceived(event, actor: viewer, messageType: "\(kind.rawValue) list (page)")
                try await deliver(event)
            }
        } catch {
            return failure(error, doing: "plan the uploaded list")
        }
        let first = events[0]
        return HTML.redirect(
            "/worklist?day=\(HTML.query(Worklist.day(first.at ?? Date())))&place=\(HTML.query(first.place ?? ""))")
    }

    private static func problem(_ text: String) -> SafeHTML {
        "<div class=\"notice error\" role=\"alert\"><p>\(text)</p></div>"
    }

    /// `HH:MM` in the trust's time.
    static func clock(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = PrefetchPlanner.london
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
    }

    static func describe(_ status: Worklist.Status, rule: String?) -> SafeHTML {
        switch status {
        case .nothingElsewhere: return "Nothing found elsewhere\(rule.map { " (rule \($0))" } ?? "")"
        case .waiting(let opens):
            return "Waiting for its window (from \(Worklist.day(opens)) \(clock(opens)))"
        case .fetching(let received, let toMove):
            let percent = toMove > 0 ? min(100, received * 100 / toMove) : 0
            return
                "Fetching: \(HTML.size(received)) of \(HTML.size(toMove)) (<progress max=\"100\" value=\"\(percent)\">\(percent)%</progress>)"
        case .ready: return "<strong>Ready</strong>"
        case .refused(let why): return "<strong>Refused</strong>: \(why)"
        case .optedOut: return "Opted out: nothing is shared"
        case .noRule: return "No pre-fetch rule applies"
        case .cancelled(let why): return "Cancelled: \(why)"
        }
    }
}
