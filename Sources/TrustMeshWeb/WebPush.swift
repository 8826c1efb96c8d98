import Foundation
import Hummingbird
import TrustMeshAccess
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNodeCore

/// The emergency push on the page: the study page's push form (`POST /push`), the inbox of pushes
/// received on the home page, and the pushes on the information governance page.
extension WebUI {
    /// The study page's form: push this study to a named clinician at another trust.
    func pushForm(studyUID: String, values: [String: String] = [:], error: String? = nil) -> SafeHTML {
        guard services.pushes != nil else { return "" }
        let me = node.configuration.trust
        let options = services.topology.trusts.filter { $0.ods != me }.map { trust -> SafeHTML in
            let selected: SafeHTML = values["to"] == trust.ods.code ? " selected" : ""
            return "<option value=\"\(trust.ods.code)\"\(selected)>\(trust.name) (\(trust.ods.code))</option>"
        }.joined()
        let problem: SafeHTML = error.map { "<div class=\"notice error\" role=\"alert\"><p>\($0)</p></div>" } ?? ""
        return """
            <section id="push" aria-labelledby="push-title"><h2 id="push-title">Emergency push</h2>\
            <p>Send this study now to a named clinician at another trust (an emergency transfer). The other trust \
            fetches it at once; both trusts audit it and information governance reviews it.</p>\(problem)\
            <form method="post" action="/push">\(HTML.csrfField)\
            <input type="hidden" name="study" value="\(studyUID)">\
            <label>Trust <select name="to" required>\(options)</select></label>\
            <label>Clinician there <input name="clinician" required maxlength="128" \
            value="\(values["clinician"] ?? "")"></label>\
            <label>Reason <textarea name="reason" required maxlength="1000">\(values["reason"] ?? "")</textarea></label>\
            <button type="submit">Push now</button></form></section>
            """
    }

    /// `POST /push`: the signed-in clinician pushes the study; the answer says what the receiving
    /// trust said, or why it was refused.
    func pushStudy(_ request: Request) async -> Response {
        let form = await HTML.formBody(of: request)
        let study = form["study"] ?? ""
        guard let pushes = services.pushes, let person = Caller.current?.person else {
            return WebUI.messagePage(.forbidden, title: "Not allowed", message: "Sign in as a clinician to push.")
        }
        do {
            let outcome = try await pushes.push(
                studyUID: study, to: form["to"] ?? "", clinician: form["clinician"] ?? "", reason: form["reason"] ?? "",
                by: person, session: Caller.current?.session?.handle)
            let body: SafeHTML = """
                <h1>Study pushed</h1><div class="notice" role="status" id="pushed"><p>\(outcome.message) \
                (push \(outcome.pushID)).</p></div><p><a href="/study?uid=\(study)">Back to the study</a></p>
                """
            return HTML.response(.ok, HTML.page(title: "Study pushed", node: nodeLabel, current: "", body: body))
        } catch let refusal as EmergencyPush.Refusal {
            let body: SafeHTML = """
                <h1>Not pushed</h1>\(pushForm(studyUID: study, values: form, error: refusal.description))
                """
            return HTML.response(.conflict, HTML.page(title: "Not pushed", node: nodeLabel, current: "", body: body))
        } catch {
            return failure(error, doing: "push the study")
        }
    }

    /// The home page's inbox: pushes received here, newest first, with the study and the reason.
    func pushInbox() -> SafeHTML {
        guard let pushes = services.pushes,
            let received = try? pushes.entries().filter({ $0.direction == "received" }), !received.isEmpty
        else { return "" }
        var body: SafeHTML = """
            <section id="push-inbox" aria-labelledby="inbox-title"><h2 id="inbox-title">Emergency pushes received</h2>\
            <table><thead><tr><th>Received</th><th>From</th><th>For</th><th>Reason</th><th>Pushed by</th>\
            <th>Study</th></tr></thead><tbody>
            """
        for entry in received {
            let study: SafeHTML =
                entry.arrived == true
                ? "<a href=\"/study?uid=\(entry.studyUID)\">\(entry.studyUID)</a>" : "\(entry.studyUID) (arriving)"
            body += """
                <tr data-push="\(entry.pushID ?? "")"><td>\(entry.time)</td><td>\(entry.peer)</td>\
                <td>\(entry.clinician ?? "")</td><td>\(entry.reason ?? "")</td><td>\(entry.pushedBy)</td>\
                <td>\(study)</td></tr>
                """
        }
        return body + "</tbody></table></section>"
    }

    /// The information governance page's list: every push sent, received or refused here, with a
    /// review button for those not reviewed since.
    func pushSection() -> SafeHTML {
        guard let pushes = services.pushes else { return "" }
        let entries = (try? pushes.entries()) ?? []
        let waiting = entries.filter { $0.direction != "refused" && !$0.reviewed }.count
        var body: SafeHTML = """
            <h2 id="pushes">Emergency pushes</h2><p>Studies this trust's clinicians pushed to other trusts, studies \
            pushed here, and refused pushes, with the reason. \(waiting) \(waiting == 1 ? "awaits" : "await") \
            review.</p>
            """
        guard !entries.isEmpty else { return body + "<p id=\"no-pushes\">No push is recorded.</p>" }
        body += """
            <table id="push-list"><thead><tr><th>When</th><th>Push</th><th>Other trust</th><th>Study</th>\
            <th>For</th><th>Reason</th><th>By</th><th>Review</th></tr></thead><tbody>
            """
        for entry in entries {
            let review: SafeHTML
            if entry.direction == "refused" {
                review = "Refused: \(entry.rule ?? "")"
            } else if entry.reviewed {
                review = "Reviewed"
            } else {
                review = """
                    <form method="post" action="/governance/review">\(HTML.csrfField)\
                    <input type="hidden" name="push" value="\(entry.pushID ?? "")">\
                    <button type="submit">Mark reviewed</button></form>
                    """
            }
            body += """
                <tr data-push="\(entry.pushID ?? "")" data-direction="\(entry.direction)"><td>\(entry.time)</td>\
                <td>\(entry.direction)</td><td>\(entry.peer)</td><td>\(entry.studyUID)</td>\
                <td>\(entry.clinician ?? "")</td><td>\(entry.reason ?? "")</td><td>\(entry.pushedBy)</td>\
                <td>\(review)</td></tr>
                """
        }
        return body + "</tbody></table>"
    }
}
