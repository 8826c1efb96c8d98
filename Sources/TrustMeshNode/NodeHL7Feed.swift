import Foundation
import ServiceLifecycle
import TrustMeshHL7
import TrustMeshModel
import TrustMeshNodeCore

/// The node's audit of its HL7 v2 door: each accepted event as `feedReceived` (the feed is the
/// actor, the clinician it names is data in the details), each AE or AR as `feedRefused`, and each
/// connection closed before a byte was read as `feedRefused`, aggregated per address.
struct NodeHL7Auditor: HL7FeedAuditor {
    let node: LocalNode

    /// The details of a `feedReceived` entry: the event, without the patient (in the subject) and
    /// the actor (the entry's actor).
    private struct Details: Encodable {
        var kind: String
        var reference: String?
        var at: String?
        var place: String?
        var clinician: String?
        var procedure: String?
        var messageID: String
        var messageType: String
    }

    func accepted(_ event: FeedEvent, address: String, messageType: String) async throws {
        let details = Details(
            kind: event.kind.rawValue, reference: event.reference, at: event.at.map(CareTime.format),
            place: event.place, clinician: event.clinician, procedure: event.procedure, messageID: event.messageID,
            messageType: messageType)
        try node.audit(
            .feedReceived, actor: .system(event.source),
            subject: [.nhsNumber: event.nhsNumber.digits, .peer: address], details: Self.json(details))
    }

    func refused(_ error: HL7Error, actor: String, address: String, controlID: String?, messageType: String?) async {
        var text = error.description
        if let messageType, let controlID { text += " (\(messageType) \(controlID))" }
        try? node.audit(
            .feedRefused, actor: .system(actor), subject: [.peer: address, .rule: error.acknowledgementCode],
            details: text)
    }

    func refusedConnection(from address: String, reason: String) async {
        try? node.auditRefusal(
            .feedRefused, source: address, actor: .system("HL7 v2 peer at \(address)"),
            subject: [.peer: address, .rule: "connection"], details: "connection closed on accept: " + reason,
            reason: reason)
    }

    private static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// Runs the HL7 v2 listener as one of the node's services, until graceful shutdown.
struct HL7ListenerService: Service {
    let listener: HL7Listener
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await listener.run(onListening: onListening)
        }
    }
}
