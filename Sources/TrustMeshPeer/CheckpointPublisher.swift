package import Foundation
package import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TrustMeshCrypto
package import TrustMeshModel
package import TrustMeshNodeCore
import TrustMeshStore

/// Every interval, if the node's audit log has grown, signs a checkpoint of its head, records it in
/// the log, and sends it to every peer (`POST /peer/v1/audit/checkpoint`). Peers keep the latest
/// checkpoint of each trust, so a node cannot truncate or rewrite its history without their
/// checkpoints exposing it (docs/AUDIT-FORMAT.md §1).
package final class CheckpointPublisher: Service {
    package static let path = "/peer/v1/audit/checkpoint"

    let node: LocalNode
    let topology: Topology
    let client: PeerClient
    let interval: Duration
    let logger: Logger
    private let lastSequence = Mutex<UInt64>(0)

    package init(node: LocalNode, topology: Topology, client: PeerClient, interval: Duration, logger: Logger) {
        self.node = node
        self.topology = topology
        self.client = client
        self.interval = interval
        self.logger = logger
    }

    package func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                await self.publishIfGrown()
            }
        }
    }

    /// Signs and sends a checkpoint if the log grew since the last one.
    func publishIfGrown() async {
        do {
            guard let head = try node.store.audit.head(), head.sequence > lastSequence.withLock({ $0 }) else { return }
            let checkpoint = AuditCheckpoint.signed(
                trust: node.configuration.trust, sequence: head.sequence, headHash: head.hash,
                time: CareTime.format(Date()), key: try node.cachedSigningKey())
            try node.audit(
                .checkpoint, actor: .system("node"),
                subject: [
                    .peer: node.configuration.trust.code, .sequence: "\(checkpoint.sequence)",
                    .headHash: checkpoint.headHash.hex,
                ],
                details: LocalNode.auditJSON(checkpoint))
            lastSequence.withLock { $0 = head.sequence + 1 }
            let payload = Array(try JSONEncoder().encode(checkpoint))
            let client = self.client
            let logger = self.logger
            await withTaskGroup(of: Void.self) { group in
                for peer in topology.trusts where peer.ods != node.configuration.trust {
                    group.addTask {
                        do {
                            _ = try await client.call(peer.ods, path: Self.path, payload: payload, timeout: .seconds(5))
                        } catch {
                            logger.debug("checkpoint not delivered", metadata: ["peer": "\(peer.ods)"])
                        }
                    }
                }
            }
        } catch {
            logger.error("checkpoint failed", metadata: ["error": "\(error)"])
        }
    }

    /// A peer's checkpoint arrived: verified against the peer's pinned key, kept if newer, audited.
    package static func receive(_ payload: [UInt8], from peer: Topology.Trust, node: LocalNode, logger: Logger) throws
        -> Data
    {
        let checkpoint = try JSONDecoder().decode(AuditCheckpoint.self, from: Data(payload))
        guard checkpoint.trust == peer.ods, let key = peer.signingKey else {
            throw PeerRefusal(.badEnvelope, "a checkpoint must be of the sender's own log")
        }
        do {
            try checkpoint.verify(with: key)
        } catch {
            throw PeerRefusal(.badSignature, "the checkpoint's signature does not verify against \(peer.ods)'s key")
        }
        let subject: [AuditEntry.SubjectKey: String] = [
            .peer: peer.ods.code, .sequence: "\(checkpoint.sequence)", .headHash: checkpoint.headHash.hex,
        ]
        switch try node.store.audit.storeCheckpoint(checkpoint) {
        case .stored:
            try node.audit(
                .checkpoint, actor: .system("peer \(peer.ods.code)"), subject: subject,
                details: LocalNode.auditJSON(checkpoint))
        case .notNewer:
            break
        case .conflicting(let held):
            logger.critical(
                "a peer signed two histories",
                metadata: ["peer": "\(peer.ods)", "sequence": "\(checkpoint.sequence)", "held": "\(held.headHash.hex)"])
            try node.audit(
                .checkpoint, actor: .system("peer \(peer.ods.code)"),
                subject: subject.merging([.rule: "conflictingCheckpoint"]) { $1 },
                details: LocalNode.auditJSON(checkpoint))
        }
        return Data("{}".utf8)
    }
}
