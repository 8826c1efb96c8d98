import Foundation
import Glibc
import HTTPTypes
package import Hummingbird
package import Logging
import NIOCore
package import TrustMeshAccess
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshGossip
package import TrustMeshModel
package import TrustMeshNodeCore
import TrustMeshStore

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
///
/// The handlers live in `DICOMwebRoutes+QIDO.swift`, `+WADO.swift` and `+STOW.swift`; every failure
/// is answered as DICOM JSON by ``errorResponse(_:)``, the door's one mapping.
package struct DICOMwebRoutes: Sendable {
    static let prefix = "/dicom-web"
    static let defaultActor = "DICOMweb client"

    let node: LocalNode
    /// The network now (membership changes while the node runs).
    var topology: Topology { currentTopology() }
    private let currentTopology: @Sendable () -> Topology
    /// The node's configured base URL (no trailing slash): RetrieveURLs are built from it, never
    /// from the request's `Host`.
    let baseURL: String
    let logger: Logger
    /// Largest STOW-RS request body, in bytes (`node run --stow-max-bytes`); larger is 413.
    let stowMaximumBytes: Int

    package init(
        node: LocalNode, topology: @escaping @Sendable () -> Topology, baseURL: String, logger: Logger,
        stowMaximumBytes: Int = 4 << 30
    ) {
        self.node = node
        self.currentTopology = topology
        self.baseURL = baseURL
        self.logger = logger
        self.stowMaximumBytes = stowMaximumBytes
    }

    /// The door's routes, behind `middleware` (outermost first).
    package func routes(middleware: [any MiddlewareProtocol<Request, Response, AccessContext>] = [])
        -> RouteCollection<
            AccessContext
        >
    {
        let router = RouteCollection(context: AccessContext.self)
        for layer in middleware { router.add(middleware: layer) }
        router.add(middleware: CallerMiddleware())
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
        return router
    }

    // MARK: Plumbing

    /// What a WADO-RS path names.
    struct Target {
        var study: String
        var series: String?
        var instance: String?
    }

    /// A UID in the path, checked by the one validator (``DICOMUID``); the refusal names the attribute.
    func uid(_ context: AccessContext, _ name: String) throws(DICOMwebError) -> String {
        let value = context.parameters.get(name) ?? ""
        let attribute = ["study": "StudyInstanceUID", "series": "SeriesInstanceUID", "instance": "SOPInstanceUID"][name]
        do { try DICOMUID.check(value, attribute: attribute ?? name) } catch { throw .badRequest("\(error)") }
        return value
    }

    func target(_ context: AccessContext) throws(DICOMwebError) -> Target {
        Target(
            study: try uid(context, "study"),
            series: context.parameters.get("series") == nil ? nil : try uid(context, "series"),
            instance: context.parameters.get("instance") == nil ? nil : try uid(context, "instance"))
    }

    /// Runs a handler and maps its errors to responses, in one place.
    func answer(_ request: Request, _ handler: () async throws -> Response) async -> Response {
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

    /// Who the audit log names: the signed-in person or system the bearer token named.
    func actor(_ request: Request) -> Actor { Caller.current?.actor ?? .system(Self.defaultActor) }

    func parameters(_ request: Request) -> [(key: String, value: String)] {
        request.uri.queryParameters.map { (key: String($0.key), value: String($0.value)) }
    }

    /// The service's base, `BASE_URL/dicom-web`, from configuration (never from the request).
    func base(_ request: Request) -> String { baseURL + Self.prefix }

    static func dicomJSON(_ objects: [DICOMJSONObject], warnings: [String] = []) -> Response {
        var response = Response(
            status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: DICOMJSONObject.encode(objects))))
        response.headers[.contentType] = "application/dicom+json"
        for warning in warnings { response.headers.append(HTTPField(name: .warning, value: warning)) }
        return response
    }

    /// A `Warning` field value (RFC 7234 §5.5, as PS3.18 §8.4.4 uses it).
    /// The text is cut to one printable ASCII line of at most 300 characters.
    static func warning(_ text: String) -> String {
        let printable = text.unicodeScalars.map { (0x20..<0x7F).contains($0.value) && $0 != "\"" ? Character($0) : " " }
        return "299 trustmesh \"\(String(printable.prefix(300)))\""
    }

    /// QIDO, metadata and STOW answer `application/dicom+json`; `application/json` is accepted too.
    func requireJSON(_ request: Request) throws(DICOMwebError) {
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
    func acceptedTransferSyntaxes(_ request: Request) throws(DICOMwebError) -> Set<String>? {
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

    /// A study held here and not hidden by an opt-out or by its origin's withdrawal or correction,
    /// with its instances. A hidden copy is refused with 410 Gone and the note saying why, audited.
    func heldStudy(_ uid: String) throws -> (StudySummary, TransferManifest) {
        if let mark = try node.copyMark(uid) {
            var subject: [AuditEntry.SubjectKey: String] = [.studyUID: uid]
            if let nhs = try node.store.study(uid: uid)?.nhsNumber { subject[.nhsNumber] = nhs }
            try node.audit(
                .retrieve, actor: Caller.current?.actor ?? .system(Self.defaultActor), subject: subject,
                details: "DICOMweb refused: the copy held here was \(mark.note)")
            throw DICOMwebError(status: 410, message: "study \(uid) is not served here: the copy was \(mark.note)")
        }
        guard let held = try node.servableStudy(uid) else {
            throw DICOMwebError.notFound("no study \(uid) is held here")
        }
        return (held.summary, held.manifest)
    }

    func page(_ objects: [DICOMJSONObject], _ query: QIDOQuery) -> [DICOMJSONObject] {
        let limit = query.limit ?? QIDOQuery.maximumLimit
        return Array(objects.dropFirst(query.offset).prefix(limit))
    }

    func warnings(_ query: QIDOQuery) -> [String] {
        query.ignored.isEmpty ? [] : [Self.warning("not used for matching: " + query.ignored.joined(separator: ", "))]
    }

}

extension HTTPField.Name {
    /// RFC 7234 §5.5; PS3.18 §8.4.4 uses it for query keys that were not matched.
    static let warning = HTTPField.Name("Warning")!
}
