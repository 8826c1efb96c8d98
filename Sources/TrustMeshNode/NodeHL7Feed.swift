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

    func accepted(_ event: FeedEvent, address: String, messageType: String) async throws {
        try node.auditFeedReceived(event, messageType: messageType, peer: address)
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
