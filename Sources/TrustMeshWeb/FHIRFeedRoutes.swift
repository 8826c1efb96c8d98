import Foundation
import HTTPTypes
package import Hummingbird
package import Logging
import NIOCore
import Synchronization
package import TrustMeshAccess
import TrustMeshFHIR
package import TrustMeshModel
package import TrustMeshNodeCore

/// The FHIR R4 feed door: the hospital's systems tell the node of appointments and imaging orders.
///
/// | route | takes | scope |
/// |---|---|---|
/// | `POST /fhir/Appointment` | an Appointment | `system/Appointment.c` |
/// | `POST /fhir/ServiceRequest` | a ServiceRequest | `system/ServiceRequest.c` |
/// | `POST /fhir/notification` | a Subscription rest-hook notification Bundle carrying either | each entry's |
///
/// Only a system with the hospital-feed role may post (``AccessTable``: the guard decides before the
/// body is read). The body must be `application/fhir+json` (or `application/json`), at most
/// ``maximumBytes``, read strictly (``FHIRFeedMapping``). Each event accepted is audited as
/// `feedReceived`, the system that posted as the actor (``source(of:)``), then handed to `deliver`
/// (the pre-fetch engine); each refusal is answered with an OperationOutcome whose issues name the
/// elements at fault and audited as `feedRefused`. A notification's entries are all read before any
/// is delivered. The same version of a resource posted again by the same system (a resend) is
/// answered without a second delivery.
package struct FHIRFeedRoutes: Sendable {
    let node: LocalNode
    let logger: Logger
    let deliver: @Sendable (FeedEvent) async throws -> Void
    let resends = ResendWindow()
    /// The largest body read (1 MiB).
    package static let maximumBytes = 1 << 20

    /// The door, handing each event accepted (once audited) to `deliver`.
    package init(node: LocalNode, logger: Logger, deliver: @escaping @Sendable (FeedEvent) async throws -> Void) {
        self.node = node
        self.logger = logger
        self.deliver = deliver
    }

    /// The routes, behind `middleware` (outermost first).
    package func routes(middleware: [any MiddlewareProtocol<Request, Response, AccessContext>] = [])
        -> RouteCollection<AccessContext>
    {
        let router = RouteCollection(context: AccessContext.self)
        for layer in middleware { router.add(middleware: layer) }
        router.post("/fhir/Appointment") { request, context in
            await self.post(request, caller: context.identity, route: "Appointment")
        }
        router.post("/fhir/ServiceRequest") { request, context in
            await self.post(request, caller: context.identity, route: "ServiceRequest")
        }
        router.post("/fhir/notification") { request, context in
            await self.post(request, caller: context.identity, route: nil)
        }
        return router
    }

    /// The feed as the audit log and the pre-fetch engine name it: the authenticated system.
    package static func source(of caller: Caller?) -> String { "FHIR R4 system \(caller?.system ?? "unknown")" }

    /// A refusal: its HTTP status and the issues its OperationOutcome lists.
    struct Refusal: Error {
        var status: HTTPResponse.Status
        var issues: [FHIRIssue]
    }

    func post(_ request: Request, caller: Caller?, route: String?) async -> Response {
        let source = Self.source(of: caller)
        let what = route ?? "notification"
        do {
            let body = try await Self.body(request, resource: route ?? "Bundle")
            let items: [FHIRFeedItem]
            var notificationType: String?
            if let route {
                switch FHIRFeedMapping.resource(body, expected: route, source: source) {
                case .success(let item): items = [item]
                case .failure(let found): throw Refusal.of(found.issues)
                }
            } else {
                switch FHIRFeedMapping.notification(body, source: source) {
                case .success(let notification):
                    items = notification.items
                    notificationType = notification.type
                case .failure(let found): throw Refusal.of(found.issues)
                }
                // Each entry needs its resource's scope, as its own route would.
                let missing = items.filter { !Self.allowed(caller, $0.resourceType) }.map {
                    FHIRIssue(
                        code: "forbidden", expression: $0.path,
                        message: "the token lacks the scope system/\($0.resourceType).c", structural: false)
                }
                if !missing.isEmpty { throw Refusal(status: .forbidden, issues: missing) }
            }
            return try await accept(items, notificationType: notificationType, what: what, source: source)
        } catch let refusal as Refusal {
            return refuse(refusal, what: what, source: source)
        } catch {
            logger.error("FHIR feed failed", metadata: ["route": "\(what)", "error": "\(error)"])
            return FHIRImagingStudy.response(
                .internalServerError,
                FHIRImagingStudy.outcome(code: "exception", "the node could not take the resource; see its log"))
        }
    }

    /// Whether the caller's token carries `system/TYPE.c` (or `system/*.*`), as the access guard
    /// asks at the resource's own route.
    static func allowed(_ caller: Caller?, _ resourceType: String) -> Bool {
        guard let scopes = caller?.scopes else { return false }
        return scopes.contains("system/\(resourceType).c") || scopes.contains("system/*.*")
    }

    /// The body, once its type and size are checked.
    static func body(_ request: Request, resource: String) async throws -> [UInt8] {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        let parts = type.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        let media = parts.first ?? ""
        let charset = parts.dropFirst().first { $0.hasPrefix("charset=") }.map { $0.dropFirst(8) }
        guard media == "application/fhir+json" || media == "application/json",
            charset == nil || charset == "utf-8" || charset == "\"utf-8\""
        else {
            throw Refusal(
                status: .unsupportedMediaType,
                issues: [
                    FHIRIssue(
                        code: "not-supported", expression: resource,
                        message: "the body must be FHIR JSON (Content-Type: application/fhir+json), not "
                            + "'\(type.isEmpty ? "none" : String(type.prefix(60)))'", structural: true)
                ])
        }
        let tooLarge = Refusal(
            status: .contentTooLarge,
            issues: [
                FHIRIssue(
                    code: "too-long", expression: resource,
                    message: "the body is larger than \(maximumBytes) bytes", structural: true)
            ])
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maximumBytes { throw tooLarge }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: maximumBytes) } catch { throw tooLarge }
        return Array(buffer.readableBytesView)
    }

    /// Audits and delivers every item, in order: 200 with an OperationOutcome saying what became of each.
    func accept(_ items: [FHIRFeedItem], notificationType: String?, what: String, source: String) async throws
        -> Response
    {
        var issues: [[String: Any]] = []
        if let notificationType, items.isEmpty {
            issues.append(Self.issue("information", "informational", "Bundle", "a \(notificationType): received"))
        }
        for item in items {
            guard let event = item.event else {
                issues.append(
                    Self.issue(
                        "information", "informational", item.path,
                        "\(item.label): \(item.ignored ?? "nothing to do"); not delivered"))
                continue
            }
            guard resends.first(source: source, messageID: event.messageID) else {
                issues.append(
                    Self.issue(
                        "information", "duplicate", item.path,
                        "\(item.label): already received (\(event.messageID)); not delivered again"))
                continue
            }
            do {
                try audit(event, item: item, notification: notificationType)
            } catch {
                resends.forget(source: source, messageID: event.messageID)
                throw error
            }
            do { try await deliver(event) } catch {
                resends.forget(source: source, messageID: event.messageID)
                throw error
            }
            var text = "\(item.label): accepted as \(event.kind.rawValue)"
            if let reference = event.reference { text += " (reference \(reference))" }
            issues.append(Self.issue("information", "informational", item.path, text))
        }
        logger.info(
            "FHIR feed accepted", metadata: ["route": "\(what)", "resources": "\(items.count)", "source": "\(source)"])
        return FHIRImagingStudy.response(.ok, ["resourceType": "OperationOutcome", "issue": issues])
    }

    func audit(_ event: FeedEvent, item: FHIRFeedItem, notification: String?) throws {
        try node.auditFeedReceived(
            event,
            messageType: notification == nil ? "FHIR \(item.resourceType)" : "FHIR notification \(item.resourceType)",
            resource: item.label)
    }

    /// Answers a refusal with its OperationOutcome, audited as `feedRefused` (rule: the HTTP status).
    func refuse(_ refusal: Refusal, what: String, source: String) -> Response {
        let text = refusal.issues.map(\.description).joined(separator: "; ")
        do {
            try node.audit(
                .feedRefused, actor: .system(source), subject: [.rule: "\(refusal.status.code)"],
                details: "POST /fhir/\(what): " + text)
        } catch {
            logger.error("a FHIR feed refusal could not be audited", metadata: ["error": "\(error)"])
        }
        // The log names the route, status and elements, never the text (it may quote an NHS number).
        logger.notice(
            "FHIR feed refused",
            metadata: [
                "route": "\(what)", "status": "\(refusal.status.code)",
                "elements": "\(refusal.issues.map(\.expression).joined(separator: ","))",
            ])
        let issues = refusal.issues.map { Self.issue("error", $0.code, $0.expression, $0.message) }
        return FHIRImagingStudy.response(refusal.status, ["resourceType": "OperationOutcome", "issue": issues])
    }

    static func issue(_ severity: String, _ code: String, _ expression: String, _ text: String) -> [String: Any] {
        ["severity": severity, "code": code, "diagnostics": text, "expression": [expression]]
    }

    /// The versions of resources delivered lately, by sender: the last 10,000 (a restart forgets
    /// them; the pre-fetch rules' duplicate suppression covers a resend across one).
    final class ResendWindow: Sendable {
        private struct State {
            var seen: Set<String> = []
            var order: [String] = []
        }
        private let state = Mutex(State())
        static let capacity = 10_000

        /// Records the message; false when it was already recorded (a resend).
        func first(source: String, messageID: String) -> Bool {
            let key = source + "\u{0}" + messageID
            return state.withLock { state in
                guard state.seen.insert(key).inserted else { return false }
                state.order.append(key)
                if state.order.count > Self.capacity {
                    state.seen.remove(state.order.removeFirst())
                }
                return true
            }
        }

        /// Forgets a message whose audit or delivery failed, so that its resend is a new attempt.
        func forget(source: String, messageID: String) {
            let key = source + "\u{0}" + messageID
            state.withLock { state in
                state.seen.remove(key)
                state.order.removeAll { $0 == key }
            }
        }
    }
}

extension FHIRFeedRoutes.Refusal {
    /// 400 when any issue means the resource could not be read as FHIR, else 422.
    static func of(_ issues: [FHIRIssue]) -> Self {
        Self(status: issues.contains(where: \.structural) ? .badRequest : .unprocessableContent, issues: issues)
    }
}
