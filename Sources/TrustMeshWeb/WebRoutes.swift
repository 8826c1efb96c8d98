import Foundation
import HTTPTypes
package import Hummingbird
import Logging
import NIOCore
package import TrustMeshAccess
import TrustMeshAudit
import TrustMeshDICOM
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshPeer
import TrustMeshPolicy
import TrustMeshStore

/// The clinician's, operator's and IG officer's page, served by the node on its own address.
///
/// | route | what |
/// |---|---|
/// | `GET /` | search by NHS number |
/// | `GET /patient?nhs=` | every study for the patient across the network; care and fetch forms; fetches |
/// | `POST /care` | form: record a care relationship (nhs, kind, reason, justification, expires) |
/// | `POST /fetch` | form: start a fetch (study, from, nhs) |
/// | `POST /push` | form: an emergency push of a held study (study, to, clinician, reason); `WebPush.swift` |
/// | `GET /fetches`, `GET /fetch/{id}` | fetches since the node started; one fetch (`?part=1`: its box only; `?part=json`: its progress, for the page's script) |
/// | `GET /study?uid=` | a held study: series and thumbnails |
/// | `GET /thumbnail/{sop}` | PNG thumbnail of an instance's first frame (SVG "preview not available" otherwise) |
/// | `GET /priors?nhs=&modality=&bodyPart=&months=` | the prior-imaging alert |
/// | `GET /operator` | peers, index per trust, fetches, refusals, disk and dedup; the equivocation alarm |
/// | `POST /operator/conflicts/resolve` | form: resolve an equivocation (id, note, keep) |
/// | `GET /audit?nhs=&clinician=&trust=` | the audit trail with each entry's verification |
/// | `GET /worklists`, `GET /worklist?day=&place=`, `POST /worklists/upload` | clinic and MDT worklists; a list's upload (`WebWorklist.swift`) |
/// | `GET /assets/app.css`, `GET /assets/app.js` | the stylesheet and script |
///
/// Forms work without JavaScript (GET search, POST-redirect-GET for care and fetch). No route
/// answers with a stack trace: failures become a plain message and the detail goes to the log.
package struct WebUI: Sendable {
    let services: LocalServices
    /// Recent `view` entries by actor and study: a study page's entry covers its thumbnails.
    let views = ViewAuditWindow()
    /// The audit trail page's check of the whole chain, kept up to date incrementally.
    let trailCheck = AuditTrailCheck()

    package init(_ services: LocalServices) { self.services = services }

    var node: LocalNode { services.node }
    /// Who the audit log names for this page request: the signed-in person.
    var viewer: Actor { Caller.current?.actor ?? .system("web page (no session)") }
    var nodeLabel: String {
        "\(services.topology.trust(node.configuration.trust)?.name ?? node.configuration.name) "
            + "(\(node.configuration.trust.code))"
    }

    /// The page's routes, behind `middleware` (outermost first).
    package func routes(middleware: [any MiddlewareProtocol<Request, Response, AccessContext>] = [])
        -> RouteCollection<
            AccessContext
        >
    {
        let router = RouteCollection(context: AccessContext.self)
        for layer in middleware { router.add(middleware: layer) }
        router.add(middleware: CallerMiddleware())
        router.get("/") { request, _ in self.home(request) }
        router.get("/patient") { request, _ in self.patientPage(HTML.query(of: request)) }
        router.post("/care") { request, _ in await self.recordCare(request) }
        router.post("/fetch") { request, _ in await self.startFetch(request) }
        router.post("/push") { request, _ in await self.pushStudy(request) }
        router.get("/fetches") { _, _ in self.fetchesPage() }
        router.get("/fetch/:id") { request, context in
            self.fetchPage(id: context.parameters.get("id") ?? "", part: HTML.query(of: request)["part"] ?? "")
        }
        router.get("/study") { request, _ in self.studyPage(uid: HTML.query(of: request)["uid"] ?? "") }
        router.get("/thumbnail/:sop") { _, context in self.thumbnail(sop: context.parameters.get("sop") ?? "") }
        router.get("/priors") { request, _ in self.priorsPage(HTML.query(of: request)) }
        router.get("/operator") { _, _ in await self.operatorPage() }
        router.post("/operator/conflicts/resolve") { request, _ in await self.resolveConflict(request) }
        router.get("/audit") { request, _ in self.auditPage(HTML.query(of: request)) }
        router.get("/governance") { _, _ in self.governancePage() }
        router.get("/worklists") { _, _ in self.worklistsPage() }
        router.get("/worklist") { request, _ in self.worklistPage(HTML.query(of: request)) }
        router.post("/worklists/upload") { request, _ in await self.uploadList(request) }
        router.post("/governance/review") { request, _ in await self.reviewEmergency(request) }
        router.get("/assets/app.css") { _, _ in Self.asset(WebAssets.css, type: "text/css; charset=utf-8") }
        router.get("/assets/app.js") { _, _ in
            Self.asset(WebAssets.javascript, type: "text/javascript; charset=utf-8")
        }
        return router
    }

    static func asset(_ text: String, type: String) -> Response {
        var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: text)))
        response.headers[.contentType] = type
        response.headers[.cacheControl] = "no-cache"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return response
    }

    /// A page with a title and one message: refusals and sign-in messages from the access layer.
    package static func messagePage(
        _ status: HTTPResponse.Status, title: String, message: String, caller: Caller? = nil
    ) -> Response {
        Caller.$current.withValue(caller) { messagePageBody(status, title: title, message: message) }
    }

    static func messagePageBody(_ status: HTTPResponse.Status, title: String, message: String) -> Response {
        let signIn: SafeHTML =
            (status == .unauthorized || status == .forbidden) && Caller.current == nil
            ? "<p><a href=\"/auth/login\">Sign in</a> · <a href=\"/\">Patient search</a></p>" : ""
        let body: SafeHTML = """
            <h1>\(title)</h1>
            <div class="notice error" role="alert"><p>\(message)</p></div>
            \(signIn)
            """
        return HTML.response(status, HTML.page(title: title, node: "", current: "", body: body))
    }

    /// A page for a failure the person cannot fix by changing what they typed; the detail is logged.
    func failure(_ error: any Error, doing what: String, status: HTTPResponse.Status = .internalServerError)
        -> Response
    {
        services.logger.error("page failed", metadata: ["doing": "\(what)", "error": "\(error)"])
        let body: SafeHTML = """
            <h1>Something went wrong</h1>
            <div class="notice error" role="alert"><p>This node could not \(what) just now. \
            Try again in a moment; if it keeps happening, tell your IT service desk (the node's log has the \
            details).</p></div>
            """
        return HTML.response(status, HTML.page(title: "Something went wrong", node: nodeLabel, current: "", body: body))
    }

    // MARK: Search and patient

    func home(_ request: Request) -> Response {
        let fields = HTML.query(of: request)
        if let nhs = fields["nhs"] { return HTML.redirect("/patient?nhs=" + HTML.query(nhs)) }
        let inFlight = services.fetches.all().filter { $0.state == .requesting || $0.state == .transferring }
        var body: SafeHTML = """
            <h1>Find a patient's imaging</h1>
            <p>Every study for the patient at every trust in the network, from this node's copy of the \
            network's index.</p>
            \(WebPages.searchForm(value: "", error: nil))
            """
        body += pushInbox()
        if !inFlight.isEmpty {
            body += "<section aria-labelledby=\"inflight\"><h2 id=\"inflight\">Fetches in progress</h2>"
            body += inFlight.map { WebPages.fetchBox($0, study: studyRecord($0.studyUID), topology: services.topology) }
                .joined()
            body += "</section>"
            body += WebPages.ruleSentences()
        }
        return HTML.response(.ok, HTML.page(title: "Patient search", node: nodeLabel, current: "/", body: body))
    }

    /// The patient page; `notice` and `error` come from a form just posted.
    func patientPage(
        _ fields: [String: String], notice: String? = nil, error: String? = nil, careError: String? = nil,
        careValues: [String: String] = [:], status: HTTPResponse.Status = .ok
    ) -> Response {
        let text = fields["nhs"] ?? ""
        let nhs: NHSNumber
        do {
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw InputProblem("nhs", "Enter the patient's NHS number.")
            }
            nhs = try NHSNumber(text)
        } catch {
            let message =
                (error as? InputProblem)?.message
                ?? "“\(text.prefix(20))” is not a valid NHS number: \(error). Check it and search again."
            let body: SafeHTML = "<h1>Find a patient's imaging</h1>\(WebPages.searchForm(value: text, error: message))"
            return HTML.response(
                .badRequest, HTML.page(title: "Check the NHS number", node: nodeLabel, current: "/", body: body))
        }
        let result: FederatedQueryResult
        let cares: [CareRelationship]
        do {
            result = try node.query(nhs: nhs, topology: services.topology, by: viewer)
            cares = try node.store.care.current(for: nhs, now: Date())
        } catch { return failure(error, doing: "search the network's index") }
        let uids = Set(result.studies.map(\.studyInstanceUID))
        let fetches = services.fetches.all().filter { uids.contains($0.studyUID) }
        let highlight = fields["fetch"]
        let shownNotice =
            notice
            ?? (fields["care"] == "added"
                ? "The care relationship is recorded and signed by this trust's node. You can now fetch this "
                    + "patient's studies from other trusts." : nil)
        // Copies of this patient's studies hidden here because their origin withdrew or corrected them.
        var hidden: [String: String] = [:]
        let heldHere = ((try? node.store.studies(nhs: nhs)) ?? []).map(\.studyInstanceUID)
        for mark in (try? node.copyMarks(studyUIDs: heldHere)) ?? [] { hidden[mark.studyUID] = mark.note }
        let body = WebPages.patient(
            result: result, nhs: nhs, cares: cares, fetches: fetches, highlight: highlight, notice: shownNotice,
            error: error, careError: careError, careValues: careValues, topology: services.topology, hidden: hidden)
        return HTML.response(
            status,
            HTML.page(
                title: "Imaging for \(nhs.formatted)", node: nodeLabel, current: "/",
                refresh: fetches.contains { $0.state == .requesting || $0.state == .transferring }, body: body))
    }

    func recordCare(_ request: Request) async -> Response {
        let form = await HTML.formBody(of: request)
        let nhs = form["nhs"] ?? ""
        do {
            let expires = form["expires"].flatMap { $0.isEmpty ? nil : $0 }
            let care = try node.addCare(
                nhs: nhs, kind: form["kind"] ?? "",
                reason: form["reason"].flatMap { $0.isEmpty ? nil : $0 } ?? "not stated",
                justification: form["justification"].flatMap { $0.isEmpty ? nil : $0 }, expires: expires,
                by: Caller.current?.person, session: Caller.current?.session?.handle)
            services.logger.info("care relationship added from the page", metadata: ["kind": "\(care.kind.rawValue)"])
            return HTML.redirect("/patient?nhs=\(care.nhsNumber.digits)&care=added#care")
        } catch let problem as CareInputError {
            return patientPage(
                ["nhs": nhs], careError: WebPages.careProblem(problem.description), careValues: form,
                status: .badRequest)
        } catch {
            return failure(error, doing: "record the care relationship")
        }
    }

    func startFetch(_ request: Request) async -> Response {
        let form = await HTML.formBody(of: request)
        let nhs = form["nhs"] ?? ""
        let study = form["study"] ?? ""
        do {
            let holder = try form["from"].flatMap { $0.isEmpty ? nil : try TrustID($0) }
            let progress = try services.fetches.start(
                studyUID: study, from: holder, clinician: nil, by: viewer)
            let target = (try? NHSNumber(nhs)).map {
                "/patient?nhs=\($0.digits)&fetch=\(progress.id)#fetch-\(progress.id)"
            }
            return HTML.redirect(target ?? "/fetch/\(progress.id)")
        } catch let error as FetchError {
            let message = WebPages.fetchRefusal(
                error.description, rule: error.rule, failure: error.failure, holder: nil)
            if (try? NHSNumber(nhs)) != nil {
                return patientPage(["nhs": nhs], error: message, status: .conflict)
            }
            let body: SafeHTML =
                "<h1>Not fetched</h1><div class=\"notice error\" role=\"alert\"><p>\(message)</p></div>"
            return HTML.response(.conflict, HTML.page(title: "Not fetched", node: nodeLabel, current: "", body: body))
        } catch {
            return failure(error, doing: "start the fetch")
        }
    }

    // MARK: Fetches

    func studyRecord(_ uid: String) -> IndexRecord? {
        (try? node.store.index.latestStudyRecords(studyUID: uid))?.first
    }

    func fetchesPage() -> Response {
        let all = services.fetches.all()
        var body: SafeHTML = "<h1>Fetches</h1><p>Fetches this node has run since it started, newest first.</p>"
        if all.isEmpty {
            body += "<p>No fetches yet. Search for a patient and fetch a study held at another trust.</p>"
        } else {
            body += all.map { WebPages.fetchBox($0, study: studyRecord($0.studyUID), topology: services.topology) }
                .joined()
            body += WebPages.ruleSentences()
        }
        let active = all.contains { $0.state == .requesting || $0.state == .transferring }
        return HTML.response(
            .ok, HTML.page(title: "Fetches", node: nodeLabel, current: "/fetches", refresh: active, body: body))
    }

    /// - Parameter part: `1`: the box only; `json`: the progress as the JSON API answers it (the
    ///   page's script polls this: the API takes a bearer token, never the page's session cookie).
    func fetchPage(id: String, part: String) -> Response {
        guard let progress = services.fetches.progress(id) else {
            let body: SafeHTML = """
                <h1>No such fetch</h1><div class="notice warn" role="status"><p>This node has no fetch with that \
                reference. Fetches are listed only until the node restarts; <a href="/fetches">see the fetches it \
                knows</a>.</p></div>
                """
            return HTML.response(.notFound, HTML.page(title: "No such fetch", node: nodeLabel, current: "", body: body))
        }
        if part == "json" { return LocalAPI.json(200, progress) }
        let box = WebPages.fetchBox(progress, study: studyRecord(progress.studyUID), topology: services.topology)
        if part == "1" { return HTML.response(.ok, box) }
        let active = progress.state == .requesting || progress.state == .transferring
        return HTML.response(
            .ok,
            HTML.page(
                title: "Fetch", node: nodeLabel, current: "/fetches", refresh: active,
                body: "<h1>Fetch</h1>\(box)\(WebPages.ruleSentences())"))
    }

    // MARK: Study viewer

    func studyPage(uid: String) -> Response {
        if let problem = DICOMUID.problem(uid) {
            let body: SafeHTML = """
                <h1>Not a study</h1><div class="notice warn" role="status"><p>StudyInstanceUID is not a valid \
                UID: \(problem).</p></div>
                """
            return HTML.response(
                .badRequest, HTML.page(title: "Not a study", node: nodeLabel, current: "", body: body))
        }
        let summary: StudySummary?
        let series: [ViewerSeries]
        do {
            summary = try node.store.study(uid: uid)
            series = summary == nil ? [] : try node.store.viewerSeries(studyUID: uid)
        } catch { return failure(error, doing: "open the study") }
        if let summary, let mark = try? node.copyMark(uid) {
            // Withdrawn or corrected at its origin (LocalNode+Held.swift): the note, never the images;
            // the refusal is audited.
            try? node.audit(
                .view, actor: viewer, subject: LocalNode.auditSubject(summary),
                details: "refused: the copy held here was \(mark.note)")
            let again: SafeHTML =
                mark.state == .corrected
                ? """
                <form method="post" action="/fetch">\(HTML.csrfField)\
                <input type="hidden" name="study" value="\(uid)">\
                <input type="hidden" name="from" value="\(mark.origin)">\
                <input type="hidden" name="nhs" value="\(summary.nhsNumber ?? "")">\
                <button type="submit">Fetch again</button></form>
                """ : ""
            let body: SafeHTML = """
                <h1>Study not shown</h1><div class="notice warn" role="status" id="copy-hidden"><p>The copy of \
                \(summary.studyInstanceUID) held here is not shown: it was \(mark.note).</p></div>\(again)
                """
            return HTML.response(
                .gone, HTML.page(title: "Study not shown", node: nodeLabel, current: "", body: body))
        }
        if let summary, (try? node.servableSummary(uid)) == nil {
            // The one opt-out check every door asks (LocalNode.isOptedOut).
            let body: SafeHTML = """
                <h1>Study not shown</h1><div class="notice warn" role="status"><p>The patient has opted out of \
                sharing their imaging: \(summary.studyInstanceUID) is not shown here.</p></div>
                """
            return HTML.response(
                .forbidden, HTML.page(title: "Study not shown", node: nodeLabel, current: "", body: body))
        }
        guard let summary else {
            let listed = studyRecord(uid)
            var advice = "This node does not hold that study."
            if let listed {
                advice += " It is held at \(listed.origin.code); fetch it from the patient's page first."
            }
            let link: SafeHTML =
                listed.map { " <a href=\"/patient?nhs=\($0.nhsNumber.digits)\">Open the patient's page</a>." } ?? ""
            let body: SafeHTML = """
                <h1>Study not available here</h1><div class="notice warn" role="status"><p>\(advice)\
                \(link)</p></div>
                """
            return HTML.response(
                .notFound, HTML.page(title: "Study not available", node: nodeLabel, current: "", body: body))
        }
        // Audited before the page leaves: a view that cannot be logged is not shown.
        do { try node.auditView(summary, actor: viewer, window: views) } catch {
            return failure(error, doing: "record this view in its audit log")
        }
        return HTML.response(
            .ok,
            HTML.page(
                title: summary.description ?? "Study", node: nodeLabel, current: "",
                body: WebPages.study(summary, series: series) + pushForm(studyUID: summary.studyInstanceUID)))
    }

    func thumbnail(sop: String) -> Response {
        guard DICOMUID.isValid(sop) else {
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "not a valid UID")))
        }
        let result: Thumbnail
        do {
            // An opted-out patient's images are not shown (nor an instance not held here).
            guard let summary = try node.servableSummary(instance: sop) else {
                return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "not available")))
            }
            // Audited before the picture leaves, unless a recent `view` of the study by the same
            // person covers it (ViewAuditWindow); a thumbnail that cannot be logged is not sent.
            do { try node.auditView(summary, thumbnail: sop, actor: viewer, window: views) } catch {
                services.logger.error("thumbnail not audited", metadata: ["error": "\(error)"])
                return Response(
                    status: .internalServerError,
                    body: .init(byteBuffer: ByteBuffer(string: "the view could not be audited; see the node's log")))
            }
            result = try node.store.thumbnail(sopInstanceUID: sop)
        } catch {
            services.logger.warning("thumbnail failed", metadata: ["error": "\(error)"])
            result = .unavailable("the image could not be read")
        }
        switch result {
        case .png(let bytes):
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            response.headers[.contentType] = "image/png"
            response.headers[.cacheControl] = "private, max-age=3600"
            return response
        case .unavailable(let reason):
            // SVG is XML: the same five characters are escaped the same way.
            let svg: SafeHTML = """
                <svg xmlns="http://www.w3.org/2000/svg" width="192" height="192" viewBox="0 0 192 192" role="img" \
                aria-label="Preview not available"><rect width="192" height="192" fill="#f0f4f5"/>\
                <text x="96" y="90" text-anchor="middle" font-family="sans-serif" font-size="14" fill="#212b32">\
                Preview not available</text><text x="96" y="112" text-anchor="middle" font-family="sans-serif" \
                font-size="10" fill="#4c6272">\(reason.prefix(36))</text></svg>
                """
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: svg.markup)))
            response.headers[.contentType] = "image/svg+xml"
            return response
        }
    }

    // MARK: Prior imaging

    func priorsPage(_ fields: [String: String]) -> Response {
        guard fields["nhs"] != nil || fields["modality"] != nil else {
            return HTML.response(
                .ok,
                HTML.page(
                    title: "Prior imaging", node: nodeLabel, current: "/priors",
                    body: WebPages.priorsIntro + WebPages.priorsForm(fields, problem: nil)))
        }
        switch PriorImaging.parameters(fields) {
        case .failure(let problem):
            return HTML.response(
                .badRequest,
                HTML.page(
                    title: "Prior imaging", node: nodeLabel, current: "/priors",
                    body: WebPages.priorsIntro + WebPages.priorsForm(fields, problem: problem)))
        case .success(let (nhs, modality, bodyPart, months)):
            do {
                let result = try node.query(nhs: nhs, topology: services.topology, by: viewer)
                let priors = PriorImaging.find(in: result, modality: modality, bodyPart: bodyPart, months: months)
                return HTML.response(
                    .ok,
                    HTML.page(
                        title: "Prior imaging", node: nodeLabel, current: "/priors",
                        body: WebPages.priorsIntro + WebPages.priorsForm(fields, problem: nil)
                            + WebPages.priors(priors, nhs: nhs)))
            } catch { return failure(error, doing: "check for prior imaging") }
        }
    }

    // MARK: Operator and IG

    func operatorPage(notice: String? = nil) async -> Response {
        do {
            let status = try await services.status()
            let stats = try node.store.statistics()
            let peers = services.topology.trusts.filter { $0.ods != node.configuration.trust }.map {
                (trust: $0, contact: services.contacts.lastContact($0.ods))
            }
            let problem: SafeHTML =
                notice.map { "<div class=\"notice error\" role=\"alert\" id=\"resolve-problem\"><p>\($0)</p></div>" }
                ?? ""
            let body =
                problem + WebPages.auditAlarm(try node.store.audit.treeHeadConflicts())
                + WebPages.equivocations(try node.conflicts(), resolvable: true)
                + WebPages.hiddenCopies(try node.copyMarks())
                + WebPages.operatorView(
                    status: status, statistics: stats, peers: peers, fetches: services.fetches.all(), now: Date())
            return HTML.response(
                notice == nil ? .ok : .badRequest,
                HTML.page(title: "Operator", node: nodeLabel, current: "/operator", body: body))
        } catch { return failure(error, doing: "read its status") }
    }

    /// The operator resolves an equivocation (form: id, note, keep), audited naming the signed-in
    /// person; back to the operator page, which says what was wrong if it could not be done.
    func resolveConflict(_ request: Request) async -> Response {
        let form = await HTML.formBody(of: request)
        guard let id = Int64(form["id"] ?? "") else {
            return await operatorPage(notice: "Say which conflict to resolve.")
        }
        guard let keep = ConflictKeep(rawValue: form["keep"] ?? "held") else {
            return await operatorPage(notice: "Keep either the record held here or the contradicting one.")
        }
        do {
            try node.resolveConflict(id: id, by: viewer, note: form["note"] ?? "", keep: keep)
            return HTML.redirect("/operator")
        } catch let error as ConflictInputError {
            return await operatorPage(notice: "That conflict could not be resolved: \(error.description).")
        } catch { return failure(error, doing: "resolve the conflict") }
    }

    /// Information governance: emergency accesses recorded or served here, awaiting review first.
    func governancePage(notice: String? = nil) -> Response {
        let accesses: [EmergencyAccess]
        do { accesses = try node.emergencyAccesses() } catch { return failure(error, doing: "list emergency accesses") }
        let waiting = accesses.filter { !$0.isReviewed }
        let conflicts: [AuditTable.TreeHeadConflict]
        let equivocations: [LocalNode.Conflict]
        do {
            conflicts = try node.store.audit.treeHeadConflicts()
            equivocations = try node.conflicts()
        } catch {
            return failure(error, doing: "read the audit alarms")
        }
        var body: SafeHTML = """
            <h1>Information governance</h1>\(WebPages.auditAlarm(conflicts))\
            \(WebPages.equivocations(equivocations, resolvable: false))
            <h2>Emergency accesses</h2>
            <p>Every emergency care relationship this trust recorded, or served a study under, with its \
            justification. \(waiting.count) \(waiting.count == 1 ? "awaits" : "await") review.</p>
            """
        if let notice { body += "<div class=\"notice\" role=\"status\"><p>\(notice)</p></div>" }
        if accesses.isEmpty {
            body += "<p id=\"no-emergencies\">No emergency access is recorded.</p>"
        } else {
            body += """
                <table id="emergencies"><thead><tr><th>Recorded</th><th>Trust</th><th>Clinician</th><th>NHS number</th>\
                <th>Justification</th><th>Uses</th><th>Review</th></tr></thead><tbody>
                """
            for access in accesses {
                let care = access.care
                let who = care.clinicianIdentity.map { "\($0.name) (\($0.roleCode))" } ?? care.clinician
                let review: SafeHTML =
                    access.isReviewed
                    ? "Reviewed by \(access.reviews.last?.reviewer ?? "")"
                    : """
                    <form method="post" action="/governance/review">\(HTML.csrfField)\
                    <input type="hidden" name="care" value="\(care.id)">\
                    <button type="submit">Mark reviewed</button></form>
                    """
                body += """
                    <tr data-care="\(care.id)"><td>\(care.start.prefix(16))</td><td>\(care.trust.code)</td>\
                    <td>\(who)</td><td>\(care.nhsNumber.formatted)</td><td>\(care.justification ?? "")</td>\
                    <td class="num">\(access.uses.count)</td><td>\(review)</td></tr>
                    """
            }
            body += "</tbody></table>"
        }
        body += pushSection()
        do { body += try optOutSection() } catch { return failure(error, doing: "list opt-outs") }
        return HTML.response(
            .ok, HTML.page(title: "Information governance", node: nodeLabel, current: "/governance", body: body))
    }

    /// Every opt-out record and withdrawal this node holds, with how it was judged: refused ones
    /// (their trust may not record one) first, then the one in force for each patient.
    func optOutSection() throws -> SafeHTML {
        let decisions = try node.optOutDecisions()
        let refused = decisions.flatMap { $0.decision.judged.filter { $0.refusal != nil } }
        var body: SafeHTML = """
            <h2 id="optouts">Opt-outs</h2>
            <p>Opt-out records and withdrawals from every trust. Only a trust that holds imaging for the patient, \
            or a current care relationship for them, may record one; others' are verified and kept, but not \
            applied. \(refused.count) \(refused.count == 1 ? "is" : "are") refused.</p>
            """
        guard !decisions.isEmpty else { return body + "<p id=\"no-optouts\">No opt-out is recorded.</p>" }
        body += """
            <table id="optout-records"><thead><tr><th>NHS number</th><th>Trust</th><th>Record</th><th>Issued</th>\
            <th>Recorded by</th><th>Patient's wish</th><th>Status</th></tr></thead><tbody>
            """
        for (nhs, decision) in decisions {
            for judged in decision.judged {
                let record = judged.record
                let status: SafeHTML
                if let refusal = judged.refusal {
                    status = "<strong>Refused</strong>: \(refusal.explanation)"
                } else if record == decision.deciding {
                    status =
                        record.kind == .optOut ? "In force" : "In force (withdrawn: the patient's imaging is shared)"
                } else {
                    status = "Superseded by a later record"
                }
                let what = record.kind == .optOut ? "opt-out" : "withdrawal"
                body += """
                    <tr data-origin="\(record.origin.code)" data-sequence="\(record.sequence)" \
                    data-status="\(judged.refusal.map { "refused:" + $0.rawValue } ?? "accepted")">\
                    <td>\(nhs.formatted)</td><td>\(record.origin.code)</td><td>\(what) #\(record.sequence)</td>\
                    <td>\(record.issuedAt)</td><td>\(record.statement?.recordedBy ?? "not stated")</td>\
                    <td>\(record.statement?.expression ?? "not stated")</td><td>\(status)</td></tr>
                    """
            }
        }
        return body + "</tbody></table>"
    }

    func reviewEmergency(_ request: Request) async -> Response {
        let form = await HTML.formBody(of: request)
        guard let person = Caller.current?.person else {
            return WebUI.messagePage(.forbidden, title: "Not allowed", message: "Sign in as a person to review.")
        }
        do {
            if let push = form["push"], let pushes = services.pushes {
                try pushes.review(
                    pushID: push, by: person, session: Caller.current?.session?.handle, note: form["note"])
                return HTML.redirect("/governance#pushes")
            }
            _ = try node.reviewEmergency(
                careID: form["care"] ?? "", by: person, session: Caller.current?.session?.handle, note: form["note"]
            )
            return HTML.redirect("/governance")
        } catch {
            return governancePage(notice: "That review could not be recorded: \(error)")
        }
    }

    func auditPage(_ fields: [String: String]) -> Response {
        var problem: InputProblem?
        var nhs: NHSNumber?
        if let text = fields["nhs"], !text.trimmingCharacters(in: .whitespaces).isEmpty {
            do { nhs = try NHSNumber(text) } catch {
                problem = InputProblem("nhs", "“\(text.prefix(20))” is not a valid NHS number: \(error).")
            }
        }
        let clinician = fields["clinician"]?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        let trust = fields["trust"]?.trimmingCharacters(in: .whitespaces).uppercased() ?? ""
        if problem == nil {
            // Reading the trail discloses who looked at whose imaging: audited before it is shown.
            var subject: [AuditEntry.SubjectKey: String] = [:]
            if let nhs { subject[.nhsNumber] = nhs.digits }
            let filters = [("clinician", clinician), ("trust", trust)].filter { !$0.1.isEmpty }
            do {
                try node.audit(
                    .auditViewed, actor: viewer, subject: subject,
                    details: filters.isEmpty ? nil : filters.map { "\($0.0)=\($0.1.prefix(64))" }.joined(separator: " ")
                )
            } catch { return failure(error, doing: "record that its audit trail was read") }
        }
        do {
            // The whole chain, checked as `trustmesh audit verify` does, once and then only what was
            // appended since; the entries shown are re-checked on their own each time.
            let key = node.configuration.signingPublicKey
            let summary = try trailCheck.update(node.store.audit, trust: node.configuration.trust, key: key)
            // Entries about a patient name the NHS number or one of the patient's studies (a completed
            // fetch names only the study). Filtered in SQLite: a view reads the newest 500 that match.
            let studies = try nhs.map { try node.store.index.records(nhs: $0).compactMap(\.studyUID) } ?? []
            let filter = AuditTable.TrailFilter(
                nhsNumber: nhs?.digits, studyUIDs: Array(Set(studies)).sorted(), actor: clinician, trust: trust)
            let (entries, matching) = try node.store.audit.trail(filter, limit: 500)
            let checked = entries.map { entry in
                AuditChain.EntryCheck(
                    entry: entry, problem: summary.problems[entry.sequence] ?? AuditChain.checkAlone(entry, key: key))
            }
            let body = WebPages.audit(
                checked, matching: matching, total: summary.total, failures: summary.failures, fields: fields,
                problem: problem)
            return HTML.response(
                problem == nil ? .ok : .badRequest,
                HTML.page(title: "Audit trail", node: nodeLabel, current: "/audit", body: body))
        } catch { return failure(error, doing: "read its audit trail") }
    }
}
