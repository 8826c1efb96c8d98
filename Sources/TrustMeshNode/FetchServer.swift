import Foundation
import Glibc
import Logging
import NIOCore
import Synchronization
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshPolicy
import TrustMeshStore

/// The holder's side of fetches: decides with the shared policy whether to share, answers with the
/// manifest and a per-transfer key, then serves chunk batches only to that requester, only from
/// that study, encrypted under that key.
final class FetchServer: Sendable {
    struct Transfer: Sendable {
        var requester: TrustID
        var studyUID: String
        var key: SymmetricKey
        var hashes: Set<Digest256>
        var expires: Date
    }

    /// How long a transfer's key stays valid after the manifest is served.
    static let transferLifetime: TimeInterval = 3600
    /// Most chunks one batch may ask for.
    static let maximumBatch = 4096

    private let node: LocalNode
    private let logger: Logger
    private let transfers = Mutex<[String: Transfer]>([:])
    /// Test-only fault injection (see docs/ARCHITECTURE.md): corrupt this many chunk frames before
    /// sealing them, and exit the process after serving this many batches.
    private let faults = Mutex(Faults())

    struct Faults {
        var corruptChunks = Int(ProcessInfo.processInfo.environment["TRUSTMESH_FAULT_CORRUPT_CHUNKS"] ?? "") ?? 0
        var exitAfterBatches = Int(ProcessInfo.processInfo.environment["TRUSTMESH_FAULT_EXIT_AFTER_BATCHES"] ?? "")
    }

    init(node: LocalNode, logger: Logger) {
        self.node = node
        self.logger = logger
    }

    /// Decides and, if allowed, opens a transfer.
    func manifest(from requester: Topology.Trust, payload: [UInt8], now: Date = Date()) throws -> Data {
        let request = try JSONDecoder().decode(ManifestRequest.self, from: Data(payload))
        let summary = try node.store.study(uid: request.studyUID)
        let nhs = summary?.nhsNumber.flatMap { try? NHSNumber($0) }
        let optedOut = try nhs.map { IndexView(try node.store.index.records(nhs: $0)).isOptedOut($0) } ?? false
        let decision = SharingPolicy.decide(
            SharingRequest(
                requester: requester.ods, requesterKey: requester.signingKey, care: request.care, studyNHSNumber: nhs,
                optedOut: optedOut, now: now))
        if case .refuse(let rule) = decision {
            try node.audit(
                .fetchRefused, actor: requester.ods.code,
                subject: [.peer: requester.ods.code, .studyUID: request.studyUID, .rule: rule.rawValue],
                details: LocalNode.auditJSON(request.care))
            logger.warning(
                "fetch refused",
                metadata: ["study": "\(request.studyUID)", "requester": "\(requester.ods)", "rule": "\(rule.rawValue)"])
            throw PeerRefusal(.notShared, rule.explanation(for: request.care), rule: rule.rawValue)
        }
        guard let manifest = try node.store.transferManifest(studyUID: request.studyUID),
            let clientKey = Data(base64Encoded: request.transferKey)
        else {
            throw PeerRefusal(.badEnvelope, "the study or the transfer key could not be read")
        }
        let exchange = KeyExchangeKeyPair()
        let keys = try KeyExchange.serverSessionKeys(server: exchange, clientPublicKey: [UInt8](clientKey))
        let transferID = Random.bytes(16).map { String(format: "%02x", $0) }.joined()
        transfers.withLock { transfers in
            transfers = transfers.filter { $0.value.expires > now }
            transfers[transferID] = Transfer(
                requester: requester.ods, studyUID: request.studyUID, key: keys.tx,
                hashes: Set(manifest.instances.flatMap { $0.chunks.map(\.hash) }),
                expires: now.addingTimeInterval(Self.transferLifetime))
        }
        // Audited before the manifest leaves: a share that cannot be logged does not happen.
        try node.audit(
            .fetchServed, actor: requester.ods.code,
            subject: [
                .peer: requester.ods.code, .studyUID: request.studyUID, .nhsNumber: manifest.nhsNumber ?? "",
                .transferID: transferID, .careID: request.care.id,
            ],
            details: LocalNode.auditJSON(request.care))
        logger.info(
            "fetch manifest served",
            metadata: [
                "study": "\(request.studyUID)", "requester": "\(requester.ods)", "clinician": "\(request.clinician)",
                "care": "\(request.care.kind.rawValue)",
            ])
        return try JSONEncoder().encode(
            ManifestResponse(
                transferID: transferID, transferKey: Data(exchange.publicKey).base64EncodedString(), manifest: manifest)
        )
    }

    /// Serves one batch of chunks of an open transfer.
    func chunks(from requester: Topology.Trust, payload: [UInt8], now: Date = Date()) throws -> ByteBuffer {
        let request = try JSONDecoder().decode(ChunkBatchRequest.self, from: Data(payload))
        guard let transfer = transfers.withLock({ $0[request.transferID] }), transfer.requester == requester.ods,
            transfer.expires > now
        else {
            throw PeerRefusal(
                .unknownTransfer, "no open transfer \(request.transferID.prefix(8))… for \(requester.ods)")
        }
        guard request.hashes.count <= Self.maximumBatch, request.hashes.allSatisfy(transfer.hashes.contains) else {
            throw PeerRefusal(.badEnvelope, "the batch asks for chunks outside the transfer's study")
        }
        // One buffer of the exact size; each chunk is read straight into its frame and sealed in place.
        let places = try node.store.places(of: request.hashes)
        var out = ByteBufferAllocator().buffer(capacity: places.reduce(0) { $0 + $1.stored + ChunkFrames.overhead })
        for place in places {
            let corrupt = faults.withLock { faults in
                guard faults.corruptChunks > 0 else { return false }
                faults.corruptChunks -= 1
                return true
            }
            try ChunkFrames.append(
                hash: place.hash, storedCount: place.stored, transferID: request.transferID, key: transfer.key,
                to: &out
            ) { space in
                try node.store.readStoredChunk(place, into: space)
                if corrupt, !space.isEmpty { space[space.count / 2] ^= 0x5A }
            }
        }
        let exitNow = faults.withLock { faults in
            guard let remaining = faults.exitAfterBatches else { return false }
            faults.exitAfterBatches = remaining - 1
            return remaining <= 0
        }
        if exitNow {
            logger.critical("fault injection: exiting mid-transfer")
            _exit(75)
        }
        return out
    }
}
