import Foundation
import HTTPTypes
package import Hummingbird
import Logging
import NIOCore
package import TrustMeshAccess
import TrustMeshFetch
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshPolicy
import TrustMeshStore

/// The local JSON API the CLI (`--node`) and other programs use, with a bearer access token (the
/// page's script, which has only the session cookie, polls `GET /fetch/{id}?part=json` instead).
///
/// | route | what |
/// |---|---|
/// | `GET /api/v1/status` | ``NodeStatus`` |
/// | `GET /api/v1/query?nhs=NUMBER` | ``FederatedQueryResult`` |
/// | `POST /api/v1/care`, `GET /api/v1/care` | record a care relationship; list them |
/// | `POST /api/v1/optout` | record or withdraw a patient's opt-out (`nhs`, `reference`, `withdraw`) as the caller |
/// | `POST /api/v1/fetch`, `GET /api/v1/fetch`, `GET /api/v1/fetch/{id}` | start a fetch; fetches; one fetch |
/// | `GET /api/v1/priors?nhs=&modality=&bodyPart=&months=12` | ``PriorImaging`` |
/// | `POST /api/v1/push`, `GET /api/v1/push` | an emergency push (`study`, `to`, `clinician`, `reason`, `kind`) as the signed-in clinician; the pushes this node's log records |
///
/// Every failure is answered `{"error": "…"}` by ``errorResponse(_:)``, the door's one mapping.
package struct LocalAPI: Sendable {
    let services: LocalServices

    package init(_ services: LocalServices) { self.services = services }

    /// A failure with the status and message the caller is sent.
    struct Failure: Error {
        var status: Int
        var message: String
        var rule: String? = nil
    }

    /// The door's routes, behind `middleware` (outermost first).
    package func routes(middleware: [any MiddlewareProtocol<Request, Response, AccessContext>] = [])
        -> RouteCollection<
            AccessContext
        >
    {
        let router = RouteCollection(context: AccessContext.self)
        for layer in middleware { router.add(middleware: layer) }
        router.get("/api/v1/status") { _, _ in await answer { try await services.status() } }
        router.get("/api/v1/query") { request, context in
            // Written directly (FederatedQueryResult.json), the same bytes as the encoder's.
            do { return Self.json(200, bytes: try query(request, context).json) } catch { return errorResponse(error) }
        }
        router.post("/api/v1/care") { request, context in await answer { try await addCare(request, context) } }
        router.get("/api/v1/care") { _, _ in await answer { try services.node.store.care.all() } }
        router.post("/api/v1/optout") { request, context in await answer { try await optOut(request, context) } }
        router.post("/api/v1/fetch") { request, context in await answer { try await startFetch(request, context) } }
        router.get("/api/v1/fetch") { _, _ in await answer { services.fetches.all() } }
        router.get("/api/v1/fetch/:id") { _, context in
            await answer {
                guard let id = context.parameters.get("id"), let progress = services.fetches.progress(id) else {
                    throw Failure(status: 404, message: "no such fetch")
                }
                return progress
            }
        }
        router.get("/api/v1/priors") { request, context in await answer { try priors(request, context) } }
        router.post("/api/v1/push") { request, context in await answer { try await push(request, context) } }
        router.get("/api/v1/push") { _, _ in await answer { try pushes().entries() } }
        return router
    }

    /// The caller the access guard established (every route here is guarded).
    private func caller(_ context: AccessContext) throws -> Caller {
        guard let caller = context.identity else { throw Failure(status: 401, message: "sign in first") }
        return caller
    }

    private func query(_ request: Request, _ context: AccessContext) throws -> FederatedQueryResult {
        guard let text = request.uri.queryParameters["nhs"] else {
            throw Failure(status: 400, message: "give the patient's NHS number as ?nhs=NUMBER")
        }
        let nhs: NHSNumber
        do { nhs = try NHSNumber(String(text)) } catch { throw Failure(status: 400, message: "nhs: \(error)") }
        let result = try services.node.query(nhs: nhs, topology: services.topology, by: try caller(context).actor)
        services.logger.info("query", metadata: ["nhs": "\(nhs)", "studies": "\(result.studies.count)"])
        return result
    }

    private func addCare(_ request: Request, _ context: AccessContext) async throws -> CareRelationship {
        struct Body: Decodable {
            var nhs: String
            var kind: String
            var expires: String?
            var reason: String?
            var justification: String?
        }
        do {
            let caller = try caller(context)
            let body = try await request.decode(as: Body.self, context: context)
            // A care feed (a system) records without a verified clinician: holders then refuse to share
            // under it (careClinicianUnverified) until the feed can name one.
            let care = try services.node.addCare(
                nhs: body.nhs, kind: body.kind, reason: body.reason.flatMap { $0.isEmpty ? nil : $0 } ?? "not stated",
                justification: body.justification, expires: body.expires, by: caller.person,
                session: caller.session?.handle)
            services.logger.info(
                "care relationship added", metadata: ["kind": "\(care.kind.rawValue)", "nhs": "\(care.nhsNumber)"])
            return care
        } catch let error as CareInputError {
            throw Failure(status: 400, message: error.description)
        } catch {
            throw Failure(status: 400, message: "\(error)")
        }
    }

    /// Records or withdraws an opt-out, naming the signed-in caller in the signed record.
    private func optOut(_ request: Request, _ context: AccessContext) async throws -> IndexRecord {
        struct Body: Decodable {
            var nhs: String
            var reference: String
            var withdraw: Bool?
        }
        do {
            let caller = try caller(context)
            let body = try await request.decode(as: Body.self, context: context)
            let nhs: NHSNumber
            do { nhs = try NHSNumber(body.nhs) } catch { throw Failure(status: 400, message: "nhs: \(error)") }
            return try services.node.recordOptOut(
                nhs: nhs, withdraw: body.withdraw ?? false, expression: body.reference, by: caller.actor)
        } catch let error as OptOutInputError {
            throw Failure(status: 403, message: error.description)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(status: 400, message: "\(error)")
        }
    }

    private func startFetch(_ request: Request, _ context: AccessContext) async throws -> FetchProgress {
        struct Body: Decodable {
            var study: String
            var from: String?
        }
        do {
            let caller = try caller(context)
            let body = try await request.decode(as: Body.self, context: context)
            let holder = try body.from.map { try TrustID($0) }
            return try services.fetches.start(
                studyUID: body.study, from: holder, clinician: nil, by: caller.actor)
        } catch let error as FetchError {
            throw Failure(status: 409, message: error.description, rule: error.rule?.name ?? "")
        } catch {
            throw Failure(status: 400, message: "\(error)")
        }
    }

    private func pushes() throws -> EmergencyPush {
        guard let pushes = services.pushes else { throw Failure(status: 404, message: "this node does not push") }
        return pushes
    }

    /// An emergency push of a study held here, by the signed-in clinician (a system may not push).
    private func push(_ request: Request, _ context: AccessContext) async throws -> EmergencyPush.Outcome {
        struct Body: Decodable {
            var study: String
            var to: String
            var clinician: String
            var reason: String
            var kind: String?
        }
        let caller = try caller(context)
        guard let person = caller.person else {
            throw Failure(status: 403, message: "a push must be made by a signed-in clinician, not a system")
        }
        let body: Body
        do { body = try await request.decode(as: Body.self, context: context) } catch {
            throw Failure(status: 400, message: "give study, to, clinician and reason (and kind): \(error)")
        }
        do {
            return try await pushes().push(
                studyUID: body.study, to: body.to, clinician: body.clinician, reason: body.reason,
                kind: body.kind ?? PushGrant.emergency, by: person, session: caller.session?.handle)
        } catch let refusal as EmergencyPush.Refusal {
            throw Failure(status: 409, message: refusal.description, rule: refusal.rule)
        }
    }

    private func priors(_ request: Request, _ context: AccessContext) throws -> PriorImaging {
        switch PriorImaging.parameters(HTML.query(of: request)) {
        case .failure(let problem):
            throw Failure(status: 400, message: "\(problem.field): \(problem.message)")
        case .success(let (nhs, modality, bodyPart, months)):
            let result = try services.node.query(nhs: nhs, topology: services.topology, by: try caller(context).actor)
            return PriorImaging.find(in: result, modality: modality, bodyPart: bodyPart, months: months)
        }
    }

    /// Runs a handler and answers its value as JSON, or its failure through ``errorResponse(_:)``.
    private func answer(_ handler: () async throws -> some Encodable) async -> Response {
        do { return Self.json(200, try await handler()) } catch { return errorResponse(error) }
    }

    /// The door's one mapping from an error to an answer: a ``Failure`` as it says; anything else
    /// is the node's own failure, logged, and the caller is told only that.
    func errorResponse(_ error: any Error) -> Response {
        if let failure = error as? Failure {
            var body = ["error": failure.message]
            if let rule = failure.rule { body["rule"] = rule }
            return Self.json(failure.status, body)
        }
        services.logger.error("local API failed", metadata: ["error": "\(error)"])
        return Self.json(500, ["error": "the node could not answer; see its log"])
    }

    /// A JSON answer with sorted keys.
    package static func json(_ status: Int, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return json(status, bytes: Array((try? encoder.encode(value)) ?? Data()))
    }

    /// A JSON answer already written.
    static func json(_ status: Int, bytes: [UInt8]) -> Response {
        var response = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        response.headers[.contentType] = "application/json"
        return response
    }
}
