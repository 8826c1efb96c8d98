import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshGossip
package import TrustMeshModel
import TrustMeshStore

extension AuditEntry.Kind {
    /// A DICOMweb retrieve (WADO-RS instances or metadata) served to a local client.
    package static let retrieve: Self = "retrieve"
}

/// DICOMweb (PS3.18) on the node's HTTP listener, under `/dicom-web`:
///
/// - QIDO-RS `GET /studies` (federated when PatientID names an NHS number, else the studies held
///   here), `GET /studies/{study}/series`, `.../series/{series}/instances`, `/studies/{study}/instances`.
/// - WADO-RS `GET /studies/{study}[/series/{series}[/instances/{instance}]]`: the instances as
///   ingested, byte for byte, as `multipart/related; type="application/dicom"`, streamed chunk by
///   chunk; and `.../metadata` at each level as `application/dicom+json`.
/// - STOW-RS `POST /studies[/{study}]`: `multipart/related; type="application/dicom"` parts, each
///   ingested as `trustmesh ingest` would.
///
/// Every query, retrieve and store is audited. docs/ARCHITECTURE.md ("DICOMweb") maps attributes
/// and lists the departures from PS3.18.
struct DICOMwebRoutes: Sendable {
    static let prefix = "/dicom-web"
    static let defaultActor = "DICOMweb client"

    let node: LocalNode
    let topology: Topology
    let logger: Logger

    func register(on router: Router<BasicRequestContext>) {
        let studies = Self.prefix + "/studies"
        router.get(RouterPath(studies)) { request, _ in
            await answer(request) { try searchStudies(request) }
        }
        router.get(RouterPath(studies + "/:study/series")) { request, context in
            await answer(request) { try searchSeries(request, study: try uid(context, "study")) }
        }
        router.get(RouterPath(studies + "/:study/instances")) { request, context in
            await answer(request) { try searchInstances(request, study: try uid(context, "study"), series: nil) }
        }
        router.get(RouterPath(studies + "/:study/series/:series/instances")) { request, context in
            await answer(request) {
                try searchInstances(request, study: try uid(context, "study"), series: try uid(context, "series"))
            }
        }
        router.get(RouterPath(studies + "/:study")) { request, context in
            await answer(request) { try retrieve(request, try target(context)) }
        }
        router.get(RouterPath(studies + "/:study/series/:series")) { request, context in
            await answer(request) { try retrieve(request, try target(context)) }
        }
        router.get(RouterPath(studies + "/:study/series/:series/instances/:instance")) { request, context in
            await answer(request) { try retrieve(request, try target(context)) }
        }
        for path in [
            "/:study/metadata", "/:study/series/:series/metadata",
            "/:study/series/:series/instances/:instance/metadata",
        ] {
            router.get(RouterPath(studies + path)) { request, context in
                await answer(request) { try metadata(request, try target(context)) }
            }
        }
        router.post(RouterPath(studies)) { request, _ in
            await answer(request) { try await store(request, study: nil) }
        }
        router.post(RouterPath(studies + "/:study")) { request, context in
            await answer(request) { try await store(request, study: try uid(context, "study")) }
        }
    }

    // MARK: Plumbing

    /// What a WADO-RS path names.
    struct Target {
        var study: String
        var series: String?
        var instance: String?
    }

    private func uid(_ context: BasicRequestContext, _ name: String) throws(DICOMwebError) -> String {
        let value = context.parameters.get(name) ?? ""
        guard QIDOQuery.isUID(value) else { throw .badRequest("\"\(value)\" is not a UID") }
        return value
    }

    private func target(_ context: BasicRequestContext) throws(DICOMwebError) -> Target {
        Target(
            study: try uid(context, "study"),
            series: context.parameters.get("series") == nil ? nil : try uid(context, "series"),
            instance: context.parameters.get("instance") == nil ? nil : try uid(context, "instance"))
    }

    /// Runs a handler and maps its errors to responses, in one place.
    private func answer(_ request: Request, _ handler: () async throws -> Response) async -> Response {
        do {
            return try await handler()
        } catch let error as DICOMwebError {
            logger.notice(
                "DICOMweb request refused",
                metadata: ["path": "\(request.uri.path)", "status": "\(error.status)", "reason": "\(error.message)"])
            return Self.errorResponse(error)
        } catch {
            logger.error("DICOMweb request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Self.errorResponse(DICOMwebError(status: 500, message: "the node could not answer; see its log"))
        }
    }

    static func errorResponse(_ error: DICOMwebError) -> Response {
        let body = (try? JSONEncoder().encode(["error": error.message])) ?? Data()
        var response = Response(status: .init(code: error.status), body: .init(byteBuffer: ByteBuffer(bytes: body)))
        response.headers[.contentType] = "application/json"
        return response
    }

    /// Who the audit log names: `?clinician=NAME` (as on `/api/v1/query`), else the DICOMweb client.
    private func actor(_ request: Request) -> String {
        request.uri.queryParameters["clinician"].map(String.init) ?? Self.defaultActor
    }

    private func parameters(_ request: Request) -> [(key: String, value: String)] {
        request.uri.queryParameters.map { (key: String($0.key), value: String($0.value)) }
    }

    /// `http://host:port/dicom-web`, as the client reached us.
    ///
    /// A Host without a port gets the listener's port: dicomweb-client (0.61) sends its host name alone.
    private func base(_ request: Request) -> String {
        let listener = topology.trust(node.configuration.trust)?.address ?? "localhost"
        var authority = request.head.authority ?? listener
        if !authority.contains(":"), let port = listener.split(separator: ":").last {
            authority += ":" + port
        }
        return "http://\(authority)\(Self.prefix)"
    }

    private static func dicomJSON(_ objects: [DICOMJSONObject], warnings: [String] = []) -> Response {
        var response = Response(
            status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: DICOMJSONObject.encode(objects))))
        response.headers[.contentType] = "application/dicom+json"
        for warning in warnings { response.headers.append(HTTPField(name: .warning, value: warning)) }
        return response
    }

    /// A `Warning` field value (RFC 7234 §5.5, as PS3.18 §8.4.4 uses it).
    /// The text is cut to one printable ASCII line of at most 300 characters.
    private static func warning(_ text: String) -> String {
        let printable = text.unicodeScalars.map { (0x20..<0x7F).contains($0.value) && $0 != "\"" ? Character($0) : " " }
        return "299 trustmesh \"\(String(printable.prefix(300)))\""
    }

    /// QIDO, metadata and STOW answer `application/dicom+json`; `application/json` is accepted too.
    private func requireJSON(_ request: Request) throws(DICOMwebError) {
        guard let header = request.headers[.accept], !header.isEmpty else { return }
        let acceptable = MediaType.list(header).contains { range in
            range.parameters["q"] != "0"
                && ["*/*", "application/*", "application/dicom+json", "application/json"].contains(range.type)
        }
        guard acceptable else {
            throw .notAcceptable("this resource is application/dicom+json; Accept asked for \(header)")
        }
    }

    /// WADO-RS answers `multipart/related; type="application/dicom"` with each instance in the transfer
    /// syntax it was stored in (no transcoding). Returns the transfer syntaxes the client accepts (nil: any).
    private func acceptedTransferSyntaxes(_ request: Request) throws(DICOMwebError) -> Set<String>? {
        guard let header = request.headers[.accept], !header.isEmpty else { return nil }
        var syntaxes: Set<String> = []
        var any = false
        for range in MediaType.list(header) where range.parameters["q"] != "0" {
            switch range.type {
            case "*/*", "multipart/*":
                any = true
            case "multipart/related":
                let type = range.parameters["type"]?.lowercased()
                guard type == nil || type == "application/dicom" || type == "application/*" else { continue }
                if let syntax = range.parameters["transfer-syntax"], syntax != "*" {
                    syntaxes.insert(syntax)
                } else {
                    any = true
                }
            default:
                continue
            }
        }
        if any { return nil }
        guard !syntaxes.isEmpty else {
            throw .notAcceptable(
                "instances are sent as multipart/related; type=\"application/dicom\" (bulk data, rendered and "
                    + "frame media types are not offered); Accept asked for \(header)")
        }
        return syntaxes
    }

    /// Whether the patient has opted out: DICOMweb then shows and serves nothing of theirs, as the
    /// local API's query lists nothing.
    private func optedOut(_ digits: String?) throws -> Bool {
        guard let digits, let nhs = try? NHSNumber(digits) else { return false }
        return IndexView(try node.store.index.records(nhs: nhs)).isOptedOut(nhs)
    }

    /// A study held here and not hidden by an opt-out, with its instances.
    private func heldStudy(_ uid: String) throws -> (StudySummary, TransferManifest) {
        guard let summary = try node.store.study(uid: uid), !(try optedOut(summary.nhsNumber)),
            let manifest = try node.store.transferManifest(studyUID: uid)
        else {
            throw DICOMwebError.notFound("no study \(uid) is held here")
        }
        return (summary, manifest)
    }

    private func auditSubject(_ summary: StudySummary, _ target: Target? = nil) -> [AuditEntry.SubjectKey: String] {
        var subject: [AuditEntry.SubjectKey: String] = [.studyUID: summary.studyInstanceUID]
        if let nhs = summary.nhsNumber { subject[.nhsNumber] = nhs }
        if let series = target?.series { subject["seriesUID"] = series }
        if let instance = target?.instance { subject["sopInstanceUID"] = instance }
        return subject
    }

    private func page(_ objects: [DICOMJSONObject], _ query: QIDOQuery) -> [DICOMJSONObject] {
        let limit = query.limit ?? QIDOQuery.maximumLimit
        return Array(objects.dropFirst(query.offset).prefix(limit))
    }

    private func warnings(_ query: QIDOQuery) -> [String] {
        query.ignored.isEmpty ? [] : [Self.warning("not used for matching: " + query.ignored.joined(separator: ", "))]
    }

    // MARK: QIDO-RS

    func searchStudies(_ request: Request) throws -> Response {
        try requireJSON(request)
        let query = try QIDOQuery.parse(parameters(request), level: .study)
        let actor = query.clinician ?? Self.defaultActor
        let base = base(request)
        var results: [DICOMJSONObject] = []
        if let nhs = query.patientID {
            // The federated index: every trust's studies for this patient (audited as `query`).
            let federated = try node.query(nhs: nhs, topology: topology, asker: actor)
            for study in federated.studies
            where query.matchesStudy(
                nhsNumber: nhs.digits, studyUID: study.studyInstanceUID, studyDate: study.studyDate,
                modalities: study.modalities, accession: study.accessionNumber)
            {
                let local = study.localCopy ? try node.store.study(uid: study.studyInstanceUID) : nil
                results.append(studyObject(federated: study, nhs: nhs.digits, local: local, base: base))
            }
        } else {
            try node.audit(
                .query, actor: actor, subject: [:], details: "DICOMweb studies held here: " + (request.uri.query ?? ""))
            var filter = StudyFilter()
            filter.studyUIDs = query.studyUIDs
            filter.dateFrom = query.studyDateFrom
            filter.dateTo = query.studyDateTo
            filter.accessionNumber = query.accessionNumber
            for study in try node.store.studies(matching: filter)
            where query.matchesStudy(
                nhsNumber: study.nhsNumber, studyUID: study.studyInstanceUID, studyDate: study.studyDate,
                modalities: study.modalities, accession: study.accessionNumber)
            {
                if try optedOut(study.nhsNumber) { continue }
                results.append(studyObject(local: study, base: base))
            }
        }
        logger.info("DICOMweb study search", metadata: ["results": "\(results.count)"])
        return Self.dicomJSON(page(results, query), warnings: warnings(query))
    }

    /// A study held here (PS3.18 Table 10.6.3-3 attributes, as far as the catalogue knows them).
    func studyObject(local study: StudySummary, base: String) -> DICOMJSONObject {
        var object = DICOMJSONObject()
        object.set(0x0008_0005, .cs, "ISO_IR 192")
        object.set(0x0020_000D, .ui, study.studyInstanceUID)
        object.set(0x0008_0020, .da, study.studyDate)
        object.set(0x0008_0030, .tm, study.studyTime)
        object.set(0x0008_0050, .sh, study.accessionNumber)
        object.set(0x0008_0061, .cs, study.modalities)
        object.set(0x0008_1030, .lo, study.description)
        object.set(0x0010_0010, .pn, study.patientName)
        object.set(0x0010_0020, .lo, study.nhsNumber)
        object.set(0x0020_1206, .is, integer: study.seriesCount)
        object.set(0x0020_1208, .is, integer: study.instanceCount)
        object.set(0x0008_0056, .cs, "ONLINE")
        object.set(0x0008_0054, .ae, node.configuration.trust.code)
        object.set(0x0008_1190, .ur, base + "/studies/" + study.studyInstanceUID)
        return object
    }

    /// A study from the federated index. Held here: as ``studyObject(local:base:)``. Held elsewhere:
    /// RetrieveAETitle (0008,0054) is the holding trust's ODS code, InstanceAvailability NEARLINE
    /// (a care-gated fetch brings it here), and there is no RetrieveURL.
    func studyObject(
        federated study: FederatedQueryResult.Study, nhs: String, local: StudySummary?, base: String
    ) -> DICOMJSONObject {
        var object: DICOMJSONObject
        if let local {
            object = studyObject(local: local, base: base)
        } else {
            object = DICOMJSONObject()
            object.set(0x0008_0005, .cs, "ISO_IR 192")
            object.set(0x0020_000D, .ui, study.studyInstanceUID)
            object.set(0x0008_0020, .da, study.studyDate)
            object.set(0x0008_0050, .sh, study.accessionNumber)
            object.set(0x0008_0061, .cs, study.modalities)
            object.set(0x0008_1030, .lo, study.description)
            object.set(0x0010_0020, .lo, nhs)
            object.set(0x0020_1206, .is, integer: study.seriesCount)
            object.set(0x0020_1208, .is, integer: study.instanceCount)
            object.set(0x0008_0056, .cs, "NEARLINE")
            object.set(0x0008_0054, .ae, study.holder)
        }
        return object
    }

    func searchSeries(_ request: Request, study uid: String) throws -> Response {
        try requireJSON(request)
        let query = try QIDOQuery.parse(parameters(request), level: .series)
        let (summary, manifest) = try heldStudy(uid)
        try node.audit(.query, actor: query.clinician ?? Self.defaultActor, subject: auditSubject(summary))
        let base = base(request)
        var results: [DICOMJSONObject] = []
        if studyMatches(query, summary) {
            for series in Self.series(of: manifest) {
                let a = series.first!.attributes
                if !query.modalities.isEmpty && !query.modalities.contains(a.modality ?? "") { continue }
                if !query.seriesUIDs.isEmpty && !query.seriesUIDs.contains(series.first!.seriesUID) { continue }
                if let number = query.seriesNumber, Int(a.seriesNumber ?? "") != number { continue }
                var object = DICOMJSONObject()
                object.set(0x0008_0005, .cs, "ISO_IR 192")
                object.set(0x0020_000D, .ui, uid)
                object.set(0x0020_000E, .ui, series.first!.seriesUID)
                object.set(0x0008_0060, .cs, a.modality)
                object.set(0x0008_103E, .lo, a.seriesDescription)
                object.set(0x0020_0011, .is, a.seriesNumber)
                object.set(0x0018_0015, .cs, a.bodyPartExamined)
                object.set(0x0020_1209, .is, integer: series.count)
                object.set(0x0008_0056, .cs, "ONLINE")
                object.set(0x0008_1190, .ur, base + "/studies/\(uid)/series/\(series.first!.seriesUID)")
                results.append(object)
            }
        }
        return Self.dicomJSON(page(results, query), warnings: warnings(query))
    }

    func searchInstances(_ request: Request, study uid: String, series: String?) throws -> Response {
        try requireJSON(request)
        var query = try QIDOQuery.parse(parameters(request), level: .instance)
        // The path's series narrows any SeriesInstanceUID key: a key naming only other series matches nothing.
        var excluded = false
        if let series {
            excluded = !query.seriesUIDs.isEmpty && !query.seriesUIDs.contains(series)
            query.seriesUIDs = [series]
        }
        let (summary, manifest) = try heldStudy(uid)
        try node.audit(
            .query, actor: query.clinician ?? Self.defaultActor,
            subject: auditSubject(summary, Target(study: uid, series: series)))
        let base = base(request)
        var results: [DICOMJSONObject] = []
        if !excluded && studyMatches(query, summary) {
            for instance in manifest.instances {
                let a = instance.attributes
                if !query.seriesUIDs.isEmpty && !query.seriesUIDs.contains(instance.seriesUID) { continue }
                if !query.modalities.isEmpty && !query.modalities.contains(a.modality ?? "") { continue }
                if let number = query.seriesNumber, Int(a.seriesNumber ?? "") != number { continue }
                if !query.sopInstanceUIDs.isEmpty && !query.sopInstanceUIDs.contains(instance.sopInstanceUID) {
                    continue
                }
                if !query.sopClassUIDs.isEmpty && !query.sopClassUIDs.contains(a.sopClassUID ?? "") { continue }
                if let number = query.instanceNumber, Int(a.instanceNumber ?? "") != number { continue }
                var object = DICOMJSONObject()
                object.set(0x0008_0005, .cs, "ISO_IR 192")
                object.set(0x0020_000D, .ui, uid)
                object.set(0x0020_000E, .ui, instance.seriesUID)
                object.set(0x0008_0060, .cs, a.modality)
                object.set(0x0020_0011, .is, a.seriesNumber)
                object.set(0x0008_0016, .ui, a.sopClassUID)
                object.set(0x0008_0018, .ui, instance.sopInstanceUID)
                object.set(0x0020_0013, .is, a.instanceNumber)
                object.set(0x0028_0008, .is, a.numberOfFrames)
                object.set(0x0008_3002, .ui, instance.transferSyntaxUID)
                object.set(0x0008_0056, .cs, "ONLINE")
                object.set(
                    0x0008_1190, .ur,
                    base + "/studies/\(uid)/series/\(instance.seriesUID)/instances/\(instance.sopInstanceUID)")
                results.append(object)
            }
        }
        return Self.dicomJSON(page(results, query), warnings: warnings(query))
    }

    private func studyMatches(_ query: QIDOQuery, _ summary: StudySummary) -> Bool {
        query.matchesStudy(
            nhsNumber: summary.nhsNumber, studyUID: summary.studyInstanceUID, studyDate: summary.studyDate,
            modalities: summary.modalities, accession: summary.accessionNumber)
    }

    /// A study's instances grouped by series, in catalogue order.
    static func series(of manifest: TransferManifest) -> [[TransferManifest.Instance]] {
        var order: [String] = []
        var groups: [String: [TransferManifest.Instance]] = [:]
        for instance in manifest.instances {
            if groups[instance.seriesUID] == nil { order.append(instance.seriesUID) }
            groups[instance.seriesUID, default: []].append(instance)
        }
        return order.map { groups[$0]! }
    }

    // MARK: WADO-RS

    private func instances(_ target: Target, in manifest: TransferManifest) throws(DICOMwebError)
        -> [TransferManifest.Instance]
    {
        let chosen = manifest.instances.filter { instance in
            (target.series == nil || instance.seriesUID == target.series)
                && (target.instance == nil || instance.sopInstanceUID == target.instance)
        }
        if chosen.isEmpty {
            if let instance = target.instance {
                throw .notFound("no instance \(instance) in series \(target.series ?? "?") of study \(target.study)")
            }
            throw .notFound("no series \(target.series ?? "?") in study \(target.study)")
        }
        return chosen
    }

    func retrieve(_ request: Request, _ target: Target) throws -> Response {
        let syntaxes = try acceptedTransferSyntaxes(request)
        let (summary, manifest) = try heldStudy(target.study)
        let chosen = try instances(target, in: manifest)
        if let syntaxes, let other = chosen.first(where: { !syntaxes.contains($0.transferSyntaxUID) }) {
            throw DICOMwebError.notAcceptable(
                "instance \(other.sopInstanceUID) is held in transfer syntax \(other.transferSyntaxUID) and the node "
                    + "does not transcode; ask for transfer-syntax=* or that syntax")
        }
        let bytes = chosen.reduce(0) { $0 + $1.size }
        var subject = auditSubject(summary, target)
        subject[.bytes] = "\(bytes)"
        subject["instances"] = "\(chosen.count)"
        // Audited before a byte leaves: a retrieve that cannot be logged does not happen.
        try node.audit(.retrieve, actor: actor(request), subject: subject)

        let boundary = Random.bytes(16).map { String(format: "%02x", $0) }.joined()
        let heads = chosen.enumerated().map { index, instance in
            Array(
                ((index == 0 ? "" : "\r\n") + "--\(boundary)\r\nContent-Type: application/dicom; transfer-syntax="
                    + "\(instance.transferSyntaxUID)\r\nContent-Length: \(instance.size)\r\n\r\n").utf8)
        }
        let tail = Array("\r\n--\(boundary)--\r\n".utf8)
        let length = bytes + heads.reduce(0) { $0 + $1.count } + tail.count
        let store = node.store
        let logger = logger
        let body = ResponseBody(contentLength: length) { writer in
            // One chunk in memory at a time (at most 1 MiB); the writer waits while the client is slow.
            let decompressor = ZstdDecompressor()
            do {
                for (head, instance) in zip(heads, chosen) {
                    try await writer.write(ByteBuffer(bytes: head))
                    for chunk in instance.chunks {
                        let plain = try store.readChunk(chunk.hash, size: chunk.size, decompressor: decompressor)
                        try await writer.write(ByteBuffer(bytes: plain))
                    }
                }
                try await writer.write(ByteBuffer(bytes: tail))
                try await writer.finish(nil)
            } catch {
                logger.error("WADO-RS retrieve stopped", metadata: ["error": "\(error)"])
                throw error
            }
        }
        var response = Response(status: .ok, body: body)
        response.headers[.contentType] = "multipart/related; type=\"application/dicom\"; boundary=\(boundary)"
        logger.info("WADO-RS retrieve", metadata: ["instances": "\(chosen.count)", "bytes": "\(bytes)"])
        return response
    }

    func metadata(_ request: Request, _ target: Target) throws -> Response {
        try requireJSON(request)
        let (summary, manifest) = try heldStudy(target.study)
        let chosen = try instances(target, in: manifest)
        var subject = auditSubject(summary, target)
        subject["metadata"] = "\(chosen.count)"
        try node.audit(.retrieve, actor: actor(request), subject: subject)
        let base = base(request)
        let decompressor = ZstdDecompressor()
        let objects = chosen.map { instance in
            var object: DICOMJSONObject
            var source = StoredInstanceSource(store: node.store, chunks: instance.chunks, decompressor: decompressor)
            do {
                // The whole header, Pixel Data left out (its chunks are skipped unread).
                let dump = try DataSetDump.read(source: &source)
                object = DICOMJSONObject(dump.elements, dump: dump)
                if let syntax = dump.meta.first(where: { $0.tag == .transferSyntaxUID }) {
                    object.set(0x0002_0010, .ui, dump.strings(syntax))
                }
            } catch {
                // Files the dump does not handle (no File Meta Information, deflated): the indexed
                // attributes and image attributes the reader keeps.
                object = Self.instanceObject(instance, manifest: manifest)
                var source = StoredInstanceSource(
                    store: node.store, chunks: instance.chunks, decompressor: decompressor)
                do {
                    Self.add(try DICOMReader.read(source: &source), to: &object)
                } catch {
                    logger.warning(
                        "metadata: header unreadable, catalogue attributes only",
                        metadata: ["sop": "\(instance.sopInstanceUID)", "error": "\(error)"])
                }
            }
            object.set(0x0008_0005, .cs, "ISO_IR 192")  // strings were decoded: the JSON is Unicode
            object.set(
                0x0008_1190, .ur,
                base + "/studies/\(target.study)/series/\(instance.seriesUID)/instances/\(instance.sopInstanceUID)")
            return object
        }
        return Self.dicomJSON(objects)
    }

    /// What the catalogue holds about an instance, as DICOM JSON.
    static func instanceObject(_ instance: TransferManifest.Instance, manifest: TransferManifest) -> DICOMJSONObject {
        var object = DICOMJSONObject()
        add(instance.attributes, to: &object)
        object.set(0x0020_000D, .ui, manifest.studyUID)
        object.set(0x0020_000E, .ui, instance.seriesUID)
        object.set(0x0008_0018, .ui, instance.sopInstanceUID)
        object.set(0x0002_0010, .ui, instance.transferSyntaxUID)
        return object
    }

    static func add(_ a: DICOMAttributes, to object: inout DICOMJSONObject) {
        object.set(0x0008_0005, .cs, "ISO_IR 192")  // JSON is UTF-8 whatever the file's character set
        object.set(0x0010_0020, .lo, a.patientID)
        object.set(0x0010_0010, .pn, a.patientName)
        object.set(0x0010_0030, .da, a.patientBirthDate)
        object.set(0x0010_0040, .cs, a.patientSex)
        object.set(0x0020_000D, .ui, a.studyInstanceUID)
        object.set(0x0008_0020, .da, a.studyDate)
        object.set(0x0008_0030, .tm, a.studyTime)
        object.set(0x0008_0050, .sh, a.accessionNumber)
        object.set(0x0008_1030, .lo, a.studyDescription)
        object.set(0x0008_0090, .pn, a.referringPhysicianName)
        object.set(0x0008_0080, .lo, a.institutionName)
        object.set(0x0008_0060, .cs, a.modality)
        object.set(0x0020_000E, .ui, a.seriesInstanceUID)
        object.set(0x0020_0011, .is, a.seriesNumber)
        object.set(0x0008_103E, .lo, a.seriesDescription)
        object.set(0x0018_0015, .cs, a.bodyPartExamined)
        object.set(0x0008_0016, .ui, a.sopClassUID)
        object.set(0x0008_0018, .ui, a.sopInstanceUID)
        object.set(0x0020_0013, .is, a.instanceNumber)
        object.set(0x0028_0008, .is, a.numberOfFrames)
        object.set(0x0002_0010, .ui, a.transferSyntaxUID)
    }

    /// The image attributes the reader keeps, from the instance's own header.
    static func add(_ info: DICOMFileInfo, to object: inout DICOMJSONObject) {
        add(info.attributes, to: &object)
        object.set(0x0008_0005, .cs, "ISO_IR 192")
        func number(_ tag: UInt32, _ value: Int?) { if let value { object.set(tag, .us, integer: value) } }
        func decimal(_ tag: UInt32, _ value: Double?) { if let value { object.set(tag, .ds, ["\(value)"]) } }
        number(0x0028_0002, info.samplesPerPixel)
        object.set(0x0028_0004, .cs, info.photometricInterpretation)
        number(0x0028_0010, info.rows)
        number(0x0028_0011, info.columns)
        number(0x0028_0100, info.bitsAllocated)
        number(0x0028_0101, info.bitsStored)
        number(0x0028_0103, info.pixelRepresentation)
        decimal(0x0028_1050, info.windowCenter)
        decimal(0x0028_1051, info.windowWidth)
        decimal(0x0028_1052, info.rescaleIntercept)
        decimal(0x0028_1053, info.rescaleSlope)
    }

    // MARK: STOW-RS

    /// One part of a STOW-RS request, written to its own file.
    private struct Part {
        var path: String
        var headers: [String: String]
        var complete = false
        var bytes = 0
    }

    private struct Failure {
        var sopClassUID: String?
        var sopInstanceUID: String?
        var reason: UInt16
        var text: String
    }

    /// PS3.18 §10.5.3 / PS3.4 Annex B status codes used as FailureReason (0008,1197).
    enum FailureReason {
        static let processingFailure: UInt16 = 0x0110
        static let outOfResources: UInt16 = 0xA700
        static let doesNotMatch: UInt16 = 0xA900
        static let cannotUnderstand: UInt16 = 0xC000
    }

    /// STOW-RS on a full disk: 507 Insufficient Storage (RFC 4918 §11.5), nothing kept.
    static let diskFull = DICOMwebError(
        status: 507, message: "the node's disk is full: nothing of this request was stored")

    func store(_ request: Request, study: String?) async throws -> Response {
        try requireJSON(request)
        guard let header = request.headers[.contentType], let media = MediaType(header),
            media.type == "multipart/related"
        else {
            throw DICOMwebError.unsupportedMediaType(
                "STOW-RS takes multipart/related; type=\"application/dicom\"; boundary=...")
        }
        if let type = media.parameters["type"]?.lowercased(), type != "application/dicom" {
            throw DICOMwebError.unsupportedMediaType(
                "only application/dicom parts are stored (not \(type): metadata with bulk data is not supported)")
        }
        guard let boundary = media.parameters["boundary"], (1...70).contains(boundary.count) else {
            throw DICOMwebError.badRequest("the Content-Type has no boundary (1 to 70 characters, RFC 2046)")
        }
        let actor = actor(request)

        let folder = node.directory + "/tmp/stow-" + Random.bytes(8).map { String(format: "%02x", $0) }.joined()
        try FileManager.default.createDirectory(
            atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: folder) }

        // The body goes to disk part by part as it arrives: memory holds one network buffer.
        var parser = MultipartParser(boundary: boundary)
        var parts: [Part] = []
        var fd: Int32 = -1
        defer { if fd >= 0 { close(fd) } }
        func handle(_ events: [MultipartParser.Event]) throws {
            for event in events {
                switch event {
                case .begin(let headers):
                    let path = folder + "/part-\(parts.count + 1).dcm"
                    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                    guard fd >= 0 else {
                        if errno == ENOSPC || errno == EDQUOT { throw Self.diskFull }
                        throw NodeError.io(path: path, reason: "cannot create (errno \(errno))")
                    }
                    parts.append(Part(path: path, headers: headers))
                case .content(let bytes):
                    try bytes.withUnsafeBytes { buffer in
                        var done = 0
                        while done < buffer.count {
                            let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                            if n < 0 && errno == EINTR { continue }
                            guard n > 0 else {
                                if errno == ENOSPC || errno == EDQUOT {
                                    close(fd)  // the space comes back only once the file is closed and removed
                                    fd = -1
                                    throw Self.diskFull
                                }
                                throw NodeError.io(path: parts.last!.path, reason: "write failed (errno \(errno))")
                            }
                            done += n
                        }
                    }
                    parts[parts.count - 1].bytes += bytes.count
                case .end(let complete):
                    parts[parts.count - 1].complete = complete
                    close(fd)
                    fd = -1
                }
            }
        }
        do {
            for try await buffer in request.body {
                try handle(try parser.feed(buffer.readableBytesView))
            }
            try handle(try parser.finish())
        } catch let error as DICOMwebError where error.status == 507 {
            try? FileManager.default.removeItem(atPath: folder)  // first, so the audit has room
            try? node.audit(.ingestFailed, actor: actor, details: "STOW-RS: \(error.message)")
            throw error
        }
        guard !parts.isEmpty else { throw DICOMwebError.badRequest("the request holds no part") }

        // Check each part before the store sees it; the store then validates as for any ingest.
        var failures: [String: Failure] = [:]
        var candidates: [String: DICOMAttributes] = [:]
        for part in parts {
            if !part.complete {
                failures[part.path] = Failure(
                    reason: FailureReason.cannotUnderstand, text: "the body ended before this part's closing boundary")
                continue
            }
            if let type = part.headers["content-type"].flatMap({ MediaType($0) })?.type, type != "application/dicom" {
                failures[part.path] = Failure(
                    reason: FailureReason.cannotUnderstand, text: "the part is \(type), not application/dicom")
                continue
            }
            let info: DICOMFileInfo
            do { info = try DICOMReader.read(path: part.path) } catch {
                failures[part.path] = Failure(reason: FailureReason.cannotUnderstand, text: "not DICOM: \(error)")
                continue
            }
            let a = info.attributes
            if let study, a.studyInstanceUID != study {
                failures[part.path] = Failure(
                    sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID, reason: FailureReason.doesNotMatch,
                    text: "the instance belongs to study \(a.studyInstanceUID ?? "(none)"), not \(study)")
                continue
            }
            candidates[part.path] = a
        }
        // Every refusal is audited: these here, the store's own in `ingest`.
        try node.auditRefused(
            failures.sorted { $0.key < $1.key }.map {
                "STOW-RS \(($0.key as NSString).lastPathComponent): \($0.value.text)"
            },
            actor: actor)
        var refused: [IngestReport.Failure] = []
        if !candidates.isEmpty {
            do {
                refused = try await node.ingest(paths: candidates.keys.sorted(), actor: actor).report.failures
            } catch let stopped as IngestInterrupted {
                // Audited by the ingest; the client learns what happened without the node's paths.
                let done = stopped.report.instancesIngested
                let kept =
                    done == 0 ? "nothing of this request was stored" : "\(done) instance(s) were stored before it"
                if let cause = stopped.cause as? StoreError, cause.isDiskFull {
                    throw DICOMwebError(status: 507, message: "the node's disk is full: \(kept)")
                }
                throw DICOMwebError(
                    status: 500, message: "the node could not store the instances: \(kept); see its log")
            }
        }
        for failure in refused {
            let a = candidates[failure.path]
            candidates[failure.path] = nil
            failures[failure.path] = Failure(
                sopClassUID: a?.sopClassUID, sopInstanceUID: a?.sopInstanceUID,
                reason: FailureReason.processingFailure,
                text: failure.reason.replacingOccurrences(of: folder + "/", with: ""))
        }

        let base = base(request)
        var response = DICOMJSONObject()
        var stored: [DICOMJSONObject] = []
        var failed: [DICOMJSONObject] = []
        var warnings: [String] = []
        var studies: Set<String> = []
        for part in parts {
            if let a = candidates[part.path] {
                var item = DICOMJSONObject()
                item.set(0x0008_1150, .ui, a.sopClassUID)
                item.set(0x0008_1155, .ui, a.sopInstanceUID)
                let studyUID = a.studyInstanceUID ?? ""
                item.set(
                    0x0008_1190, .ur,
                    base
                        + "/studies/\(studyUID)/series/\(a.seriesInstanceUID ?? "")/instances/\(a.sopInstanceUID ?? "")"
                )
                studies.insert(studyUID)
                stored.append(item)
            } else if let failure = failures[part.path] {
                var item = DICOMJSONObject()
                item.set(0x0008_1150, .ui, failure.sopClassUID)
                item.set(0x0008_1155, .ui, failure.sopInstanceUID)
                item.set(0x0008_1197, .us, integer: Int(failure.reason))
                failed.append(item)
                let name = (part.path as NSString).lastPathComponent
                warnings.append(Self.warning("\(name): \(failure.text)"))
                logger.notice("STOW-RS part refused", metadata: ["part": "\(name)", "reason": "\(failure.text)"])
            }
        }
        if let only = study ?? (studies.count == 1 ? studies.first : nil) {
            response.set(0x0008_1190, .ur, base + "/studies/" + only)
        }
        if !stored.isEmpty { response.set(0x0008_1199, items: stored) }
        if !failed.isEmpty { response.set(0x0008_1198, items: failed) }
        let status: HTTPResponse.Status = failed.isEmpty ? .ok : stored.isEmpty ? .conflict : .accepted
        logger.info("STOW-RS store", metadata: ["stored": "\(stored.count)", "failed": "\(failed.count)"])
        var answer = Response(
            status: status, body: .init(byteBuffer: ByteBuffer(bytes: DICOMJSONObject.encode(response))))
        answer.headers[.contentType] = "application/dicom+json"
        for warning in warnings.prefix(100) { answer.headers.append(HTTPField(name: .warning, value: warning)) }
        return answer
    }
}

/// An instance's bytes read from its stored chunks, for ``DICOMReader``: chunks are decompressed
/// (and verified) only when read; a skip over whole chunks (pixel data) reads nothing.
struct StoredInstanceSource: ByteSource {
    let store: StudyStore
    let chunks: [TransferManifest.Chunk]
    let decompressor: ZstdDecompressor
    private var next = 0
    private var current: [UInt8] = []
    private var position = 0

    init(store: StudyStore, chunks: [TransferManifest.Chunk], decompressor: ZstdDecompressor) {
        self.store = store
        self.chunks = chunks
        self.decompressor = decompressor
    }

    private mutating func load() throws(DICOMError) {
        let chunk = chunks[next]
        do {
            current = try store.readChunk(chunk.hash, size: chunk.size, decompressor: decompressor)
        } catch {
            throw .io("read chunk", path: chunk.hash.hex, errno: EIO)
        }
        next += 1
        position = 0
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        while position == current.count {
            guard next < chunks.count else { return 0 }
            try load()
        }
        let count = min(buffer.count, current.count - position)
        current.withUnsafeBytes { bytes in
            buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + position, byteCount: count)
        }
        position += count
        return count
    }

    mutating func skip(_ count: Int) throws(DICOMError) -> Int {
        var remaining = count
        let here = min(remaining, current.count - position)
        position += here
        remaining -= here
        while remaining > 0 && next < chunks.count {
            if chunks[next].size <= remaining {
                remaining -= chunks[next].size
                next += 1
                current = []
                position = 0
            } else {
                try load()
                position = remaining
                remaining = 0
            }
        }
        return count - remaining
    }
}

extension HTTPField.Name {
    /// RFC 7234 §5.5; PS3.18 §8.4.4 uses it for query keys that were not matched.
    fileprivate static let warning = HTTPField.Name("Warning")!
}
