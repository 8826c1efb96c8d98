import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshPolicy
import TrustMeshStore

/// The pages' HTML, from values: no I/O here, so every piece can be checked on its own.
///
/// Every fragment is a ``SafeHTML``: a value interpolated into one is escaped unless it is itself a
/// `SafeHTML`, so no call here escapes by hand.
enum WebPages {
    typealias E = HTML

    // MARK: Search

    static func searchForm(value: String, error: String?) -> SafeHTML {
        let invalid = error == nil ? "false" : "true"
        return """
            <form class="panel" method="get" action="/patient" role="search" aria-label="Patient search">
            <div class="field">
            <label for="nhs">NHS number</label>
            <p class="hint" id="nhs-help">10 digits, for example 943 476 5919.</p>
            <p class="error-message" id="nhs-hint" aria-live="polite">\(error ?? "")</p>
            <div class="row">
            <div class="field"><input id="nhs" name="nhs" type="text" inputmode="numeric" autocomplete="off" \
            spellcheck="false" size="14" maxlength="20" data-nhs="nhs-hint" aria-describedby="nhs-help nhs-hint" \
            aria-invalid="\(invalid)" value="\(value)"></div>
            <div class="field"><button type="submit" class="secondary">Search</button></div>
            </div>
            </div>
            </form>
            """
    }

    // MARK: Patient

    static func patient(
        result: FederatedQueryResult, nhs: NHSNumber, cares: [CareRelationship], fetches: [FetchProgress],
        highlight: String?, notice: String?, error: String?, careError: String?, careValues: [String: String],
        topology: Topology, hidden: [String: String] = [:]
    ) -> SafeHTML {
        var html: SafeHTML = "<h1>Imaging for NHS number <span class=\"nhs\">\(nhs.formatted)</span></h1>"
        html += searchForm(value: nhs.formatted, error: nil)
        if let notice {
            html += "<div class=\"notice ok\" role=\"status\" id=\"notice\"><p>\(notice)</p></div>"
        }
        if let error {
            html += "<div class=\"notice error\" role=\"alert\" id=\"error\"><p>\(error)</p></div>"
        }
        if result.optedOut {
            html += """
                <div class="notice warn" role="status" id="opted-out"><p><strong>This patient has opted out of \
                sharing imaging.</strong> No studies are listed or shared anywhere in the network. Ask the patient \
                or the trust that took the images if you need them.</p></div>
                """
            return html
        }
        html += "<section aria-labelledby=\"studies-title\"><h2 id=\"studies-title\">Studies across the network</h2>"
        if result.studies.isEmpty {
            html += "<p id=\"no-studies\">No imaging found for this patient at any trust in the network.</p>"
        } else {
            html += studiesTable(result.studies, nhs: nhs, actions: true, id: "studies", hidden: hidden)
        }
        html += "</section>"
        // Copies held here that their origin withdrew are no longer listed by the network: say so.
        let listed = Set(result.studies.map(\.studyInstanceUID))
        let withdrawn = hidden.filter { !listed.contains($0.key) }.sorted { $0.key < $1.key }
        if !withdrawn.isEmpty {
            html += """
                <section aria-labelledby="hidden-title"><h2 id="hidden-title">Copies hidden here</h2>\
                <ul id="hidden-copies">
                """
            for (uid, note) in withdrawn {
                html += "<li data-study=\"\(uid)\">Study <span class=\"ods\">\(uid)</span>: \(note)</li>"
            }
            html += "</ul></section>"
        }
        if !fetches.isEmpty {
            html += "<section aria-labelledby=\"fetches-title\"><h2 id=\"fetches-title\">Fetches for this patient</h2>"
            let records = Dictionary(
                result.studies.map { ($0.studyInstanceUID, $0) }, uniquingKeysWith: { first, _ in first })
            for fetch in fetches {
                html += fetchBox(fetch, title: records[fetch.studyUID].map(studyTitle), topology: topology)
            }
            html += "</section>"
        }
        html += careSection(nhs: nhs, cares: cares, error: careError, values: careValues)
        html += """
            <section aria-labelledby="prior-title"><h2 id="prior-title">Before ordering a scan</h2>
            <p>Check whether comparable imaging already exists for this patient.</p>
            \(priorsForm(["nhs": nhs.formatted], problem: nil, compact: true))
            </section>
            """
        html += ruleSentences()
        _ = highlight
        return html
    }

    /// The operator's list of copies held here that their origin withdrew or corrected (hidden from
    /// every door until fetched again or removed).
    static func hiddenCopies(_ marks: [CopyMark]) -> SafeHTML {
        guard !marks.isEmpty else { return "" }
        var html: SafeHTML = """
            <section aria-labelledby="hidden-copies-title"><h2 id="hidden-copies-title">Copies hidden because \
            their origin withdrew or corrected them</h2><ul id="hidden-copies">
            """
        for mark in marks {
            html += """
                <li data-study="\(mark.studyUID)"><span class="ods">\(mark.studyUID)</span>: \(mark.note) \
                (marked \(mark.markedAt))</li>
                """
        }
        return html + "</ul></section>"
    }

    static func studyTitle(_ study: FederatedQueryResult.Study) -> String {
        "\(study.description ?? "Study") (\(study.modalities.joined(separator: ", ")), \(E.date(study.studyDate)))"
    }

    /// - Parameter hidden: notes on copies held here that their origin withdrew or corrected, by
    ///   study: shown in the copy's place, and a corrected study's fetch is offered as "Fetch again".
    static func studiesTable(
        _ studies: [FederatedQueryResult.Study], nhs: NHSNumber, actions: Bool, id: String,
        hidden: [String: String] = [:]
    ) -> SafeHTML {
        let actionHeader: SafeHTML = actions ? "<th scope=\"col\">Action</th>" : ""
        var html: SafeHTML = """
            <div class="table-wrap" role="region" aria-labelledby="\(id)-caption" tabindex="0">
            <table id="\(id)"><caption id="\(id)-caption">\(studies.count) \(studies.count == 1 ? "study" : "studies"), \
            most recent first</caption>
            <thead><tr><th scope="col">Date</th><th scope="col">Modality</th><th scope="col">Body part</th>\
            <th scope="col">Description</th><th scope="col">Held at</th><th scope="col" class="num">Size</th>\
            <th scope="col">Copy here</th>\(actionHeader)</tr></thead><tbody>
            """
        for study in studies {
            let date: SafeHTML =
                E.isoDate(study.studyDate).map { "<time datetime=\"\($0)\">\(E.date(study.studyDate))</time>" }
                ?? "\(E.date(study.studyDate))"
            html += "<tr data-study=\"\(study.studyInstanceUID)\">"
            html += "<td>\(date)</td>"
            html += "<td>\(study.modalities.joined(separator: ", "))</td>"
            html +=
                "<td>\(study.bodyParts.isEmpty ? "not recorded" : study.bodyParts.joined(separator: ", "))</td>"
            html += "<td>\(study.description ?? "no description")"
            if let accession = study.accessionNumber {
                html += "<br><span class=\"ods\">Accession \(accession)</span>"
            }
            html += "</td>"
            html +=
                "<td>\(study.holderName ?? study.holder) <span class=\"ods\">(\(study.holder))</span></td>"
            html += "<td class=\"num\">\(E.size(study.sizeBytes))</td>"
            let copy: SafeHTML =
                study.localCopy
                ? "<td><span class=\"tag yes\">Yes</span></td>" : "<td><span class=\"tag\">No</span></td>"
            if let note = hidden[study.studyInstanceUID] {
                html += "<td><span class=\"tag\">Hidden</span> <span class=\"copy-note\">\(note)</span></td>"
            } else {
                html += copy
            }
            let fetchLabel = hidden[study.studyInstanceUID] == nil ? "Fetch" : "Fetch again"
            if actions {
                if study.localCopy {
                    html += """
                        <td><a href="/study?uid=\(E.query(study.studyInstanceUID))">View<span class="skip"> \
                        \(study.description ?? "study")</span></a></td>
                        """
                } else {
                    html += """
                        <td><form method="post" action="/fetch">\(HTML.csrfField)\
                        <input type="hidden" name="study" value="\(study.studyInstanceUID)">\
                        <input type="hidden" name="from" value="\(study.holder)">\
                        <input type="hidden" name="nhs" value="\(nhs.digits)">\
                        <button type="submit" aria-label="Fetch \(study.description ?? "study") from \
                        \(study.holder)">\(fetchLabel)</button></form></td>
                        """
                }
            }
            html += "</tr>"
        }
        return html + "</tbody></table></div>"
    }

    static func careSection(nhs: NHSNumber, cares: [CareRelationship], error: String?, values: [String: String])
        -> SafeHTML
    {
        var html: SafeHTML =
            "<section aria-labelledby=\"care-title\" id=\"care\"><h2 id=\"care-title\">Care relationships</h2>"
        if cares.isEmpty {
            html += """
                <p id="no-care">This trust has no current care relationship for this patient. Other trusts share \
                imaging only with a trust that records one.</p>
                """
        } else {
            html += "<ul id=\"care-list\">"
            for care in cares {
                let expiry =
                    care.expiry.map { "until \($0.prefix(10))" }
                    ?? "no end date stated (the network policy's cap applies)"
                let start = care.start.prefix(10)
                html += "<li>\(care.kind.rawValue.capitalized) — \(care.clinician), from \(start), \(expiry)</li>"
            }
            html += "</ul>"
        }
        let kind = values["kind"] ?? "referral"
        let options = CareRelationship.Kind.allCases.map { option -> SafeHTML in
            let label = option == .mdt ? "MDT" : option.rawValue.capitalized
            let selected: SafeHTML = option.rawValue == kind ? " selected" : ""
            return "<option value=\"\(option.rawValue)\"\(selected)>\(label)</option>"
        }.joined()
        let errorMessage: SafeHTML =
            error.map { "<p class=\"error-message\" role=\"alert\" id=\"care-error\">\($0)</p>" } ?? ""
        html += """
            <form method="post" action="/care" class="panel" aria-labelledby="care-form-title">
            \(HTML.csrfField)
            <h3 id="care-form-title">Record a care relationship</h3>
            <p class="hint">Record that you have started delivering care to this patient. It names you, as you \
            signed in, is signed by this trust's node and is presented when you fetch. An emergency needs a \
            justification, which information governance reviews.</p>
            \(errorMessage)
            <input type="hidden" name="nhs" value="\(nhs.digits)">
            <div class="row">
            <div class="field"><label for="kind">Kind of care</label><select id="kind" name="kind">\(options)</select></div>
            <div class="field"><label for="reason">Reason</label>\
            <input id="reason" name="reason" type="text" required maxlength="500" \
            value="\(values["reason"] ?? "")"></div>
            <div class="field"><label for="justification">Emergency justification</label>\
            <input id="justification" name="justification" type="text" maxlength="1000" \
            value="\(values["justification"] ?? "")"></div>
            <div class="field"><label for="expires">Ends on (optional)</label>\
            <input id="expires" name="expires" type="date" value="\(values["expires"] ?? "")"></div>
            <div class="field"><button type="submit">Record care relationship</button></div>
            </div>
            </form></section>
            """
        return html
    }

    /// A care form's error in plain words ("clinician: give the clinician's name" → "Give the clinician's name").
    static func careProblem(_ text: String) -> String {
        guard let colon = text.firstIndex(of: ":") else { return text }
        let field = text[..<colon]
        let rest = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        let sentence = rest.prefix(1).uppercased() + rest.dropFirst()
        switch field {
        case "expires": return "End date: " + sentence + "."
        case "kind": return "Kind of care: " + sentence + "."
        case "nhs": return "NHS number: " + sentence + "."
        default: return sentence + "."
        }
    }

    // MARK: Fetch progress

    /// The policy rules in plain words with what to do next, as the page shows a refusal.
    static func ruleSentence(_ reported: ReportedRule) -> String? {
        guard case .known(let rule) = reported else { return nil }
        let advice: String
        switch rule {
        case .noCareRelationship:
            advice = "Record a care relationship for this patient on the patient's page, then fetch again."
        case .optedOut: advice = "The patient's imaging cannot be shared."
        case .careExpired, .careTooOld: advice = "Record a new care relationship, then fetch again."
        case .careNotStarted: advice = "Check this node's clock, or record the care relationship again."
        case .careClinicianUnverified:
            advice = "Record the care relationship again, signed in as the clinician, then fetch again."
        case .careSignedByAnotherTrust, .careForAnotherPatient:
            advice = "Record a care relationship for this patient at this trust, then fetch again."
        case .unknownStudy: advice = "The trust no longer holds this study; search again to see where it is now."
        case .unknownPeer: advice = "The holding trust does not recognise this trust; contact the network's operator."
        }
        let explanation = rule.explanation
        return "Sharing was refused because " + explanation + ". " + advice
    }

    /// Rule sentences for the script, as a JSON data block (not executed).
    static func ruleSentences() -> SafeHTML {
        var map: [String: String] = [:]
        for rule in PolicyRule.allCases { map[rule.rawValue] = ruleSentence(.known(rule)) }
        return jsonBlock(id: "rule-sentences", map)
    }

    /// A JSON data block: `<script type="application/json">`, which the browser does not run.
    ///
    /// The script reads the block's text as JSON, so it is not HTML-escaped (`&quot;` would stay
    /// `&quot;`); instead every `<` becomes `\u003c`, so nothing in it can close the element or open a
    /// comment (HTML Living Standard §4.12.1.3, "Restrictions for contents of script elements"). The
    /// replacement goes by Unicode scalar: a `<` followed by a combining mark is one `Character`, which
    /// a `Character`-wise replacement would pass over.
    static func jsonBlock(id: String, _ object: [String: String]) -> SafeHTML {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        var json = ""
        for scalar in String(decoding: data, as: UTF8.self).unicodeScalars {
            if scalar == "<" { json += "\\u003c" } else { json.unicodeScalars.append(scalar) }
        }
        // Trusted: JSON from JSONSerialization with no `<` left, as said above.
        return "<script type=\"application/json\" id=\"\(id)\">\(SafeHTML(trusted: json))</script>"
    }

    /// A fetch that did not start or failed, in words a clinician understands.
    static func fetchRefusal(_ error: String, rule: ReportedRule?, failure: FetchFailure?, holder: String?) -> String {
        if let rule, let sentence = ruleSentence(rule) { return "Not fetched. " + sentence }
        switch failure {
        case .holderUnreachable:
            return "Not fetched. The node at \(holder ?? "the holding trust") did not answer; it may be down. "
                + "Try again later: the fetch carries on from what has already arrived."
        case .notListed:
            return "Not fetched. No other trust in the network lists this study now; search again to see where it is."
        case .refused, .other, nil:
            return "Not fetched. " + error.prefix(1).uppercased() + error.dropFirst()
        }
    }

    static func fetchBox(_ fetch: FetchProgress, study: IndexRecord?, topology: Topology) -> SafeHTML {
        let title = study.map {
            "\($0.studyDescription ?? "Study") (\($0.modalities.joined(separator: ", ")), \(E.date($0.studyDate)))"
        }
        return fetchBox(fetch, title: title, topology: topology)
    }

    static func fetchBox(_ fetch: FetchProgress, title: String?, topology: Topology) -> SafeHTML {
        let holderName = (try? TrustID(fetch.holder)).flatMap { topology.trust($0)?.name } ?? fetch.holder
        let total = max(fetch.bytesToMove, 0)
        let value = fetch.state == .completed ? max(total, 1) : fetch.bytesReceived
        let status: String
        switch fetch.state {
        case .completed:
            status =
                "Complete: \(E.size(fetch.bytesReceived)) moved (\(fetch.chunksAlreadyHeld) of \(fetch.chunksTotal) "
                + "pieces were already here)."
        case .failed:
            status = fetchRefusal(
                fetch.error ?? "the fetch failed", rule: fetch.rule, failure: fetch.failure, holder: fetch.holder)
        case .requesting:
            status = "Asking \(holderName) for the study…"
        case .transferring where fetch.waitingForOtherFetches != nil:
            status = "Waiting for another fetch that is bringing the same images…"
        case .transferring:
            let left = fetch.secondsLeft.map {
                $0 < 1 ? "under a second" : "\(Int($0.rounded())) second\(Int($0.rounded()) == 1 ? "" : "s")"
            }
            status =
                "\(E.size(fetch.bytesReceived)) of \(E.size(total)) at \(E.size(Int(fetch.bytesPerSecond)))/s; "
                + "time left: \(left ?? "working it out")."
        }
        let view: SafeHTML =
            fetch.state == .completed
            ? "<p><a href=\"/study?uid=\(E.query(fetch.studyUID))\" data-view>View the study</a></p>" : ""
        return """
            <div class="fetch" id="fetch-\(fetch.id)" data-fetch-id="\(fetch.id)" \
            data-state="\(fetch.state.rawValue)">
            <h3>\(title ?? "Study \(fetch.studyUID)")</h3>
            <p class="ods">From \(holderName) (\(fetch.holder)), for \(fetch.clinician)</p>
            <progress max="\(max(total, 1))" value="\(min(value, max(total, 1)))" \
            aria-label="Fetch progress">\(total > 0 ? value * 100 / total : 0)%</progress>
            <p data-status aria-live="polite">\(status)</p>
            \(view)
            </div>
            """
    }

    // MARK: Study viewer

    static func study(_ summary: StudySummary, series: [ViewerSeries]) -> SafeHTML {
        var html: SafeHTML = "<h1>\(summary.description ?? "Study")</h1>"
        html += "<dl class=\"facts panel\">"
        html += "<dt>Date</dt><dd>\(E.date(summary.studyDate))</dd>"
        if let nhs = summary.nhsNumber.flatMap({ try? NHSNumber($0) }) {
            html += "<dt>NHS number</dt><dd><a href=\"/patient?nhs=\(nhs.digits)\">\(nhs.formatted)</a></dd>"
        }
        html += "<dt>Modality</dt><dd>\(summary.modalities.joined(separator: ", "))</dd>"
        html += "<dt>Body part</dt><dd>\(summary.bodyParts.joined(separator: ", "))</dd>"
        if let accession = summary.accessionNumber { html += "<dt>Accession</dt><dd>\(accession)</dd>" }
        html += "<dt>Series</dt><dd>\(summary.seriesCount)</dd><dt>Images</dt><dd>\(summary.instanceCount)</dd>"
        html += "<dt>Size</dt><dd>\(E.size(summary.sizeBytes))</dd></dl>"
        for (index, item) in series.enumerated() {
            let number = item.seriesNumber ?? "\(index + 1)"
            let name = [item.modality, item.description, item.bodyPart].compactMap { $0 }.joined(separator: " · ")
            html += "<section class=\"series-block\" aria-labelledby=\"series-\(index)\">"
            html += "<h2 id=\"series-\(index)\">Series \(number): \(name) "
            html += "(\(item.instances.count) image\(item.instances.count == 1 ? "" : "s"))</h2>"
            // At most 12 thumbnails a series, spread through it: bounded work per page.
            let shown = sample(item.instances, count: 12)
            if shown.count < item.instances.count {
                html +=
                    "<p class=\"hint\">\(shown.count) of \(item.instances.count) images shown, spread through the series.</p>"
            }
            html += "<div class=\"series\">"
            for instance in shown {
                let label = "Series \(number), image \(instance.instanceNumber ?? "?")"
                let syntax = instance.transferSyntaxUID.map { TransferSyntax(uid: $0) }
                if let syntax, syntax.isEncapsulated || syntax.isDeflated {
                    html += """
                        <figure><div class="unavailable">Preview not available (compressed images)</div>\
                        <figcaption>\(label)</figcaption></figure>
                        """
                } else {
                    html += """
                        <figure><img src="/thumbnail/\(E.query(instance.sopInstanceUID))" alt="\(label)" \
                        width="192" height="192" loading="lazy"><figcaption>\(label)</figcaption></figure>
                        """
                }
            }
            html += "</div></section>"
        }
        return html
    }

    static func sample<T>(_ items: [T], count: Int) -> [T] {
        guard items.count > count, count > 1 else { return items }
        return (0..<count).map { items[$0 * (items.count - 1) / (count - 1)] }
    }

    // MARK: Prior imaging

    static let priorsIntro: SafeHTML = """
        <h1>Prior imaging</h1>
        <p>Before ordering a scan, check for comparable studies the patient already has anywhere in the network: \
        same modality and body part within the period. Fetching one may spare the patient a repeat scan and its \
        radiation.</p>
        """

    static func priorsForm(_ fields: [String: String], problem: InputProblem?, compact: Bool = false) -> SafeHTML {
        func error(_ field: String) -> SafeHTML {
            guard let problem, problem.field == field else { return "" }
            return "<p class=\"error-message\" role=\"alert\" id=\"\(field)-error\">\(problem.message)</p>"
        }
        let prefix = compact ? "prior-" : ""
        let nhsField: SafeHTML =
            compact
            ? "<input type=\"hidden\" name=\"nhs\" value=\"\(fields["nhs"] ?? "")\">"
            : """
            <div class="field"><label for="\(prefix)nhs">NHS number</label>\(error("nhs"))\
            <p class="error-message" id="prior-nhs-hint" aria-live="polite"></p>\
            <input id="\(prefix)nhs" name="nhs" type="text" inputmode="numeric" autocomplete="off" maxlength="20" \
            size="14" data-nhs="prior-nhs-hint" value="\(fields["nhs"] ?? "")"></div>
            """
        return """
            <form method="get" action="/priors" class="panel" aria-label="Prior imaging check">
            <div class="row">
            \(nhsField)
            <div class="field"><label for="\(prefix)modality">Modality</label>\(error("modality"))\
            <input id="\(prefix)modality" name="modality" type="text" size="6" maxlength="16" required \
            placeholder="CT" value="\(fields["modality"] ?? "")"></div>
            <div class="field"><label for="\(prefix)bodyPart">Body part</label>\(error("bodyPart"))\
            <input id="\(prefix)bodyPart" name="bodyPart" type="text" size="12" maxlength="64" placeholder="CHEST" \
            value="\(fields["bodyPart"] ?? "")"></div>
            <div class="field"><label for="\(prefix)months">Within (months)</label>\(error("months"))\
            <input id="\(prefix)months" name="months" type="number" min="1" max="120" size="4" \
            value="\(fields["months"] ?? "12")"></div>
            <div class="field"><button type="submit" class="secondary">Check for prior imaging</button></div>
            </div>
            </form>
            """
    }

    static func priors(_ priors: PriorImaging, nhs: NHSNumber) -> SafeHTML {
        if priors.optedOut {
            return """
                <div class="notice warn" role="status" id="opted-out"><p><strong>This patient has opted out of sharing \
                imaging.</strong> No studies are listed or shared anywhere in the network.</p></div>
                """
        }
        let part = priors.bodyPart.map { "\($0.capitalized) " } ?? ""
        if priors.priors.isEmpty {
            return """
                <div class="notice ok" role="status" id="prior-alert"><p>No comparable \(part)\
                \(priors.modality) imaging for NHS number \(nhs.formatted) anywhere in the network since \
                \(priors.since).</p><p class="hint">Matched: \(priors.rule).</p></div>
                """
        }
        let count = priors.priors.count
        return """
            <div class="notice warn" role="alert" id="prior-alert"><p><strong>\(count) comparable \
            \(part)\(priors.modality) stud\(count == 1 ? "y" : "ies") already exist\(count == 1 ? "s" : "") \
            for NHS number \(nhs.formatted)</strong> in the last \(priors.months) months. Consider fetching instead \
            of re-imaging.</p><p class="hint">Matched: \(priors.rule).</p></div>
            \(studiesTable(priors.priors, nhs: nhs, actions: true, id: "priors"))
            """
    }

    // MARK: Operator

    static func ago(_ date: Date?, now: Date) -> String {
        guard let date else { return "no contact since this node started" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        if seconds < 2 { return "just now" }
        if seconds < 120 { return "\(seconds) seconds ago" }
        if seconds < 7200 { return "\(seconds / 60) minutes ago" }
        return "\(seconds / 3600) hours ago"
    }

    /// The alarm shown first on the operator and information-governance pages when a trust signed
    /// two audit histories (equivocation), with both heads' facts as the evidence; nothing otherwise.
    static func auditAlarm(_ conflicts: [AuditTable.TreeHeadConflict]) -> SafeHTML {
        guard !conflicts.isEmpty else { return "" }
        var html: SafeHTML = """
            <div class="notice error" role="alert" id="audit-alarm"><h2>Audit alarm: a trust signed two histories \
            of its audit log</h2><p>Each row is a pair of tree heads, both signed with the trust's key, that no \
            append-only log can produce. Both are kept as evidence (\(conflicts.count) \
            pair\(conflicts.count == 1 ? "" : "s")). Tell your information governance lead and the trust's.</p>
            <table id="audit-conflicts"><thead><tr><th>Trust</th><th>Found</th><th>Why</th><th>Held head</th>\
            <th>Contradicting head</th></tr></thead><tbody>
            """
        func describe(_ head: SignedTreeHead) -> SafeHTML {
            "\(head.treeSize) entries, root \(head.rootHash.hex.prefix(16))…, signed \(head.time)"
        }
        for conflict in conflicts {
            html += """
                <tr><td>\(conflict.trust.code)</td><td>\(conflict.detectedAt)</td><td>\(conflict.reason)</td>\
                <td>\(describe(conflict.first))</td><td>\(describe(conflict.second))</td></tr>
                """
        }
        return html + "</tbody></table></div>"
    }

    /// The alarm shown first on the operator and information-governance pages while a trust has an
    /// unresolved equivocation (two statements signed with its key that cannot both be true), with
    /// both statements as the evidence and, for the operator, a form to resolve each; then the
    /// conflicts resolved before, with who resolved them and why. Nothing if there were none.
    static func equivocations(_ conflicts: [LocalNode.Conflict], resolvable: Bool) -> SafeHTML {
        let open = conflicts.filter { $0.resolution == nil }
        let resolved = conflicts.filter { $0.resolution != nil }
        var html: SafeHTML = ""
        if !open.isEmpty {
            html += """
                <div class="notice error" role="alert" id="equivocation-alarm"><h2>Alarm: a trust signed two \
                versions of the same statement</h2><p>Each row is two statements signed with one trust's key that \
                cannot both be true: its key may be stolen. Both are kept as evidence (\(open.count) \
                unresolved). Until an operator resolves it, this node stores none of that trust's new index records, \
                and searches list its studies as they were before the disputed record. Ask the trust which one its \
                node signed, and tell your information governance lead.</p>
                <div class="table-wrap" role="region" aria-label="Unresolved equivocations" tabindex="0">\
                <table id="equivocations"><thead><tr><th scope="col" class="num">No.</th><th scope="col">Trust</th>\
                <th scope="col">What</th><th scope="col">Found</th><th scope="col">Held here</th>\
                <th scope="col">Contradicting it</th><th scope="col">Resolve</th></tr></thead><tbody>
                """
            for conflict in open {
                let (held, other) = conflict.statementSummaries
                let keep: SafeHTML =
                    conflict.kind == .indexRecord
                    ? """
                    <label for="keep-\(conflict.id)">Keep</label><select id="keep-\(conflict.id)" name="keep">\
                    <option value="held" selected>the record held here</option>\
                    <option value="other">the contradicting record</option></select>
                    """ : ""
                let action: SafeHTML =
                    resolvable
                    ? """
                    <form method="post" action="/operator/conflicts/resolve">\(HTML.csrfField)\
                    <input type="hidden" name="id" value="\(conflict.id)">\
                    <label for="note-\(conflict.id)">Note</label><input id="note-\(conflict.id)" name="note" \
                    type="text" required maxlength="500" size="24">\(keep)<button type="submit">Resolve</button></form>
                    """ : "An operator resolves it"
                html += """
                    <tr data-conflict="\(conflict.id)" data-trust="\(conflict.trust.code)">\
                    <td class="num">\(conflict.id)</td><td>\(conflict.trust.code)</td>\
                    <td>\(conflict.kind.rawValue) \(conflict.number): \(conflict.reason)</td>\
                    <td class="nowrap">\(conflict.detectedAt)</td><td>\(held)</td><td>\(other)</td><td>\(action)</td></tr>
                    """
            }
            html += "</tbody></table></div></div>"
        }
        if !resolved.isEmpty {
            html += """
                <section aria-labelledby="resolved-title"><h2 id="resolved-title">Equivocations resolved</h2>
                <table id="resolved-equivocations"><thead><tr><th scope="col" class="num">No.</th>\
                <th scope="col">Trust</th><th scope="col">What</th><th scope="col">Resolved</th><th scope="col">By</th>\
                <th scope="col">Kept</th><th scope="col">Note</th></tr></thead><tbody>
                """
            for conflict in resolved {
                guard let resolution = conflict.resolution else { continue }
                html += """
                    <tr data-conflict="\(conflict.id)"><td class="num">\(conflict.id)</td><td>\(conflict.trust.code)</td>\
                    <td>\(conflict.kind.rawValue) \(conflict.number)</td><td class="nowrap">\(resolution.at)</td>\
                    <td>\(resolution.by)</td><td>\(resolution.keptSecond ? "the contradicting record" : "the record held")</td>\
                    <td>\(resolution.note)</td></tr>
                    """
            }
            html += "</tbody></table></section>"
        }
        return html
    }

    static func operatorView(
        status: NodeStatus, statistics: StoreStatistics, peers: [(trust: Topology.Trust, contact: Date?)],
        fetches: [FetchProgress], now: Date
    ) -> SafeHTML {
        var html: SafeHTML = "<h1>Operator view</h1>"
        let saved = statistics.instanceBytes > 0 ? 100 - statistics.storedBytes * 100 / statistics.instanceBytes : 0
        html += """
            <section aria-labelledby="node-title"><h2 id="node-title">This node</h2><dl class="facts" id="node-facts">
            <dt>Trust</dt><dd>\(status.name) (\(status.trust))</dd>
            <dt>Address</dt><dd>\(status.address)</dd>
            <dt>Studies held</dt><dd>\(statistics.studies) (\(statistics.instances) images; \
            \(statistics.unmatchedStudies) without a valid NHS number, never shared)</dd>
            <dt>Disk used</dt><dd id="disk">\(E.size(statistics.storedBytes)) for \(E.size(statistics.instanceBytes)) \
            of DICOM files: \(saved)% saved by compression and deduplication</dd>
            <dt>Index records</dt><dd>\(status.ownRecords) published by this trust</dd>
            <dt>Gossip</dt><dd>\(status.gossipRounds) rounds; \(status.acceptedRecords) records accepted, \
            \(status.rejectedRecords) rejected; \(status.failedExchanges) exchanges failed</dd>
            </dl></section>
            """
        html += """
            <section aria-labelledby="peers-title"><h2 id="peers-title">Peers</h2>
            <div class="table-wrap" role="region" aria-labelledby="peers-title" tabindex="0"><table id="peers">
            <thead><tr><th scope="col">Trust</th><th scope="col">Address</th><th scope="col" class="num">Index \
            records held</th><th scope="col">Last contact</th></tr></thead><tbody>
            """
        let records = Dictionary(status.peers.map { ($0.ods, $0.records) }, uniquingKeysWith: { a, _ in a })
        for peer in peers {
            html += "<tr><td>\(peer.trust.name) <span class=\"ods\">(\(peer.trust.ods.code))</span></td>"
            html +=
                "<td>\(peer.trust.address)</td><td class=\"num\">\(records[peer.trust.ods.code] ?? 0)</td>"
            html += "<td>\(ago(peer.contact, now: now))</td></tr>"
        }
        html += "</tbody></table></div></section>"

        var ruleCounts: [String: Int] = [:]
        for fetch in fetches where fetch.state == .failed {
            ruleCounts[fetch.rule?.name ?? "other failure", default: 0] += 1
        }
        html += "<section aria-labelledby=\"refusals-title\"><h2 id=\"refusals-title\">Refusals</h2>"
        if status.refusals.isEmpty && ruleCounts.isEmpty {
            html += "<p>No refusals since the node started.</p>"
        } else {
            html += "<table id=\"refusals\"><thead><tr><th scope=\"col\">Reason</th><th scope=\"col\">Where</th>"
            html += "<th scope=\"col\" class=\"num\">Count</th></tr></thead><tbody>"
            for (code, count) in status.refusals.sorted(by: { $0.key < $1.key }) {
                html +=
                    "<tr><td>\(code)</td><td>peer requests to this node</td><td class=\"num\">\(count)</td></tr>"
            }
            for (rule, count) in ruleCounts.sorted(by: { $0.key < $1.key }) {
                html +=
                    "<tr><td>\(rule)</td><td>fetches by this node</td><td class=\"num\">\(count)</td></tr>"
            }
            html += "</tbody></table>"
        }
        html += "</section>"
        let active = fetches.filter { $0.state == .requesting || $0.state == .transferring }
        html += """
            <section aria-labelledby="op-fetches"><h2 id="op-fetches">Fetches</h2><p>\(active.count) in progress, \
            \(fetches.count - active.count) finished since the node started. <a href="/fetches">See them all</a>.</p>\
            </section>
            """
        return html
    }

    // MARK: Audit

    /// The audit trail: `entries` are the newest that match the filters (at most 500), newest first,
    /// of `matching` in all; `total` and `failures` are the whole chain's.
    static func audit(
        _ entries: [AuditChain.EntryCheck], matching: Int, total: Int, failures: Int, fields: [String: String],
        problem: InputProblem?
    ) -> SafeHTML {
        var html: SafeHTML = """
            <h1>Audit trail</h1>
            <p>Every governance event this node recorded: searches, care relationships, fetches asked for, served, \
            completed or refused, opt-outs. Each entry is hash-chained to the one before and signed by the node; \
            the last column says whether that still holds.</p>
            """
        html +=
            failures == 0
            ? "<div class=\"notice ok\" role=\"status\" id=\"chain-status\"><p>All \(total) entries verify: hashes, links and signatures.</p></div>"
            : "<div class=\"notice error\" role=\"alert\" id=\"chain-status\"><p>\(failures) of \(total) entries do NOT verify. The log has been altered; report it to your information governance lead.</p></div>"
        let nhsError: SafeHTML =
            problem.map { "<p class=\"error-message\" role=\"alert\" id=\"nhs-error\">\($0.message)</p>" }
            ?? ""
        html += """
            <form method="get" action="/audit" class="panel" aria-label="Filter the audit trail"><div class="row">
            <div class="field"><label for="audit-nhs">NHS number</label>\(nhsError)\
            <input id="audit-nhs" name="nhs" type="text" inputmode="numeric" size="14" maxlength="20" \
            value="\(fields["nhs"] ?? "")"></div>
            <div class="field"><label for="audit-clinician">Clinician or actor</label>\
            <input id="audit-clinician" name="clinician" type="text" size="18" value="\(fields["clinician"] ?? "")"></div>
            <div class="field"><label for="audit-trust">Other trust (ODS)</label>\
            <input id="audit-trust" name="trust" type="text" size="6" maxlength="6" value="\(fields["trust"] ?? "")"></div>
            <div class="field"><button type="submit" class="secondary">Filter</button></div>
            </div></form>
            """
        let shown = entries.prefix(500)
        html += """
            <div class="table-wrap" role="region" aria-labelledby="audit-caption" tabindex="0"><table id="audit">
            <caption id="audit-caption">\(matching) matching entr\(matching == 1 ? "y" : "ies")\
            \(matching > shown.count ? ", newest \(shown.count) shown" : ""), newest first</caption>
            <thead><tr><th scope="col" class="num">No.</th><th scope="col">Time (UTC)</th><th scope="col">Event</th>\
            <th scope="col">Actor</th><th scope="col">Patient</th><th scope="col">Other trust</th>\
            <th scope="col">Details</th><th scope="col">Verified</th></tr></thead><tbody>
            """
        for item in shown {
            let entry = item.entry
            let patient = entry.subject[.nhsNumber].flatMap { try? NHSNumber($0) }?.formatted ?? ""
            let other = entry.subject[.peer] ?? entry.subject[.origin] ?? ""
            var details: [String] = []
            if let uid = entry.subject[.studyUID] { details.append("study …\(uid.suffix(12))") }
            if let rule = entry.subject[.rule] { details.append("rule \(rule)") }
            if let bytes = entry.subject[.bytes], let count = Int(bytes) { details.append(E.size(count)) }
            html +=
                "<tr><td class=\"num\">\(entry.sequence)</td><td class=\"nowrap\">\(entry.time.replacingOccurrences(of: "T", with: " "))</td>"
            html += "<td>\(entry.kind.rawValue)</td><td>\(entry.actor)</td>"
            html += "<td class=\"nowrap\">\(patient)</td><td>\(other)</td>"
            html += "<td>\(details.joined(separator: "; "))</td>"
            let verified: SafeHTML =
                item.problem.map { "<td class=\"failed\">No: \($0.description)</td>" }
                ?? "<td class=\"verified\">Yes</td>"
            html += verified
            html += "</tr>"
        }
        return html + "</tbody></table></div>"
    }
}
