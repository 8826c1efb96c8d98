package import Foundation
import Glibc
package import Logging
package import NIOCore
import Synchronization
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshGossip
package import TrustMeshModel
package import TrustMeshNodeCore
import TrustMeshPeer
import TrustMeshPolicy
import TrustMeshStore

/// The holder's side of fetches: decides with the shared policy whether to share, answers with the
/// manifest and a per-transfer key, then serves chunk batches only to that requester, only from
/// that study, encrypted under that key.
package final class FetchServer: Sendable {
    struct Transfer: Sendable {
        var requester: TrustID
        var studyUID: String
        /// The study's patient, whose opt-out is checked again before every batch.
        var nhsNumber: NHSNumber?
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
    /// The network's policy, which every share is decided under.
    /// The network policy in force now (a membership version may change it while the node runs).
    private var policy: NetworkPolicy { node.networkPolicy }
    /// The keys each trust signed with when (nil: the requester's key in the topology only).
    private let keyring: (any Keyring)?
    private let transfers = Mutex<[String: Transfer]>([:])
    /// Test-only fault injection (see docs/ARCHITECTURE.md): corrupt this many chunk frames before
    /// sealing them, exit the process part way through the batch after this many, and file the
    /// first instance of every manifest served under this series.
    private let faults = Mutex(Faults())

    struct Faults {
        var corruptChunks = Int(ProcessInfo.processInfo.environment["TRUSTMESH_FAULT_CORRUPT_CHUNKS"] ?? "") ?? 0
        var exitAfterBatches = Int(ProcessInfo.processInfo.environment["TRUSTMESH_FAULT_EXIT_AFTER_BATCHES"] ?? "")
        let manifestSeries = ProcessInfo.processInfo.environment["TRUSTMESH_FAULT_MANIFEST_SERIES"]
    }

    /// Every share is decided under the node's network policy (``LocalNode/networkPolicy``).
    /// - Parameter keyring: the keys each trust signed with when (nil: the topology's).
    package init(node: LocalNode, logger: Logger, keyring: (any Keyring)? = nil) {
        self.keyring = keyring
        self.node = node
        self.logger = logger
    }

    /// Decides under the network policy and, if allowed, opens a transfer.
    ///
    /// The decision is the holder's own: the care relationship must name a verified clinician of the
    /// requesting trust, and counts only until the earlier of its stated expiry and the cap for its
    /// kind. The audit entry (`fetchServed` or `fetchRefused`) records the relationship's kind and,
    /// when the cap cut its stated expiry, both expiries.
    package func manifest(from requester: Topology.Trust, payload: [UInt8], now: Date = Date()) throws -> Data {
        let request = try JSONDecoder().decode(ManifestRequest.self, from: Data(payload))
        let summary = try node.store.study(uid: request.studyUID)
        let nhs = summary?.nhsNumber.flatMap { try? NHSNumber($0) }
        let optedOut = try nhs.map(node.isOptedOut) ?? false
        if let grant = request.push {
            return try servePush(grant, request: request, from: requester, nhs: nhs, optedOut: optedOut, now: now)
        }
        guard let care = request.care else {
            let rule = PolicyRule.noCareRelationship
            try node.audit(
                .fetchRefused, actor: .system("peer \(requester.ods.code)"),
                subject: [.peer: requester.ods.code, .studyUID: request.studyUID, .rule: rule.rawValue])
            throw PeerRefusal(.notShared, rule.explanation, rule: .known(rule))
        }
        // The care relationship was signed when it started, perhaps with a key since rotated: the
        // key the requester held then, if one verifies it, else its current key.
        let keysThen =
            keyring.flatMap { ring in care.startDate.map { ring.signingKeys(of: requester.ods, at: $0) } } ?? []
        let requesterKey =
            keysThen.first { (try? care.verify(with: $0)) != nil }
            ?? (keyring == nil ? requester.signingKey : keysThen.first)
        let decision = SharingPolicy.decide(
            SharingRequest(
                requester: requester.ods, requesterKey: requesterKey, care: care, studyNHSNumber: nhs,
                optedOut: optedOut, now: now),
            policy: policy)
        let peer = Actor.system("peer \(requester.ods.code)")
        var careSubject: [AuditEntry.SubjectKey: String] = [.careID: care.id, .careKind: care.kind.rawValue]
        if let expiry = CareExpiry(care, policy: policy) { careSubject.merge(expiry.auditSubject) { $1 } }
        if case .refuse(let rule) = decision {
            try node.audit(
                .fetchRefused, actor: peer,
                subject: careSubject.merging([
                    .peer: requester.ods.code, .studyUID: request.studyUID, .rule: rule.rawValue,
                ]) { $1 },
                details: LocalNode.auditJSON(care))
            logger.warning(
                "fetch refused",
                metadata: ["study": "\(request.studyUID)", "requester": "\(requester.ods)", "rule": "\(rule.rawValue)"])
            throw PeerRefusal(.notShared, rule.explanation(for: care, policy: policy), rule: .known(rule))
        }
        let (manifest, transferID, answer) = try openTransfer(request, for: requester.ods, nhs: nhs, now: now)
        // Audited before the manifest leaves: a share that cannot be logged does not happen.
        try node.audit(
            .fetchServed, actor: peer,
            subject: careSubject.merging([
                .peer: requester.ods.code, .studyUID: request.studyUID, .nhsNumber: manifest.nhsNumber ?? "",
                .transferID: transferID,
            ]) { $1 },
            details: LocalNode.auditJSON(care))
        var metadata: Logger.Metadata = [
            "study": "\(request.studyUID)", "requester": "\(requester.ods)", "clinician": "\(request.clinician)",
            "care": "\(care.kind.rawValue)",
        ]
        if case .share(let expiry) = decision, expiry.isCut {
            metadata["expiry"] = "\(care.expiry ?? "none") cut to \(CareTime.format(expiry.effective))"
        }
        logger.info("fetch manifest served", metadata: metadata)
        return answer
    }

    /// Opens a transfer of the study for the requester: its manifest, a per-transfer key exchange
    /// and id (valid ``transferLifetime``), and the encoded answer.
    private func openTransfer(_ request: ManifestRequest, for requester: TrustID, nhs: NHSNumber?, now: Date) throws
        -> (TransferManifest, String, Data)
    {
        guard var manifest = try node.store.transferManifest(studyUID: request.studyUID),
            let clientKey = Data(base64Encoded: request.transferKey)
        else {
            throw PeerRefusal(.badEnvelope, "the study or the transfer key could not be read")
        }
        if let series = faults.withLock({ $0.manifestSeries }), !manifest.instances.isEmpty {
            // A lying holder: the manifest still matches the signed index record (instance count,
            // sizes, content hash), only the instance's own header says otherwise.
            manifest.instances[0].seriesUID = series
            manifest.instances[0].attributes.seriesInstanceUID = series
        }
        let exchange = KeyExchangeKeyPair()
        let keys = try KeyExchange.serverSessionKeys(server: exchange, clientPublicKey: [UInt8](clientKey))
        let transferID = Random.bytes(16).map { String(format: "%02x", $0) }.joined()
        transfers.withLock { transfers in
            transfers = transfers.filter { $0.value.expires > now }
            transfers[transferID] = Transfer(
                requester: requester, studyUID: request.studyUID, nhsNumber: nhs, key: keys.tx,
                hashes: Set(manifest.instances.flatMap { $0.chunks.map(\.hash) }),
                expires: now.addingTimeInterval(Self.transferLifetime))
        }
        let answer = try JSONEncoder().encode(
            ManifestResponse(
                transferID: transferID, transferKey: Data(exchange.publicKey).base64EncodedString(), manifest: manifest)
        )
        return (manifest, transferID, answer)
    }

    /// Serves the fetch of an emergency push: the grant presented must be one this node signed, for
    /// this study, its patient and the requesting trust, current, and the patient not opted out
    /// (``PushPolicy/serve(_:holder:holderKeys:requester:studyUID:studyNHSNumber:optedOut:now:policy:)``).
    /// Audited as `fetchServed` (subject `pushID`, details the grant's JSON) or `fetchRefused`.
    private func servePush(
        _ grant: PushGrant, request: ManifestRequest, from requester: Topology.Trust, nhs: NHSNumber?,
        optedOut: Bool, now: Date
    ) throws -> Data {
        let me = node.configuration.trust
        var keys = [try node.cachedSigningKey().verifyingKey]
        if let ring = keyring, let issued = grant.issuedDate { keys += ring.signingKeys(of: me, at: issued) }
        let peer = Actor.system("peer \(requester.ods.code)")
        var subject: [AuditEntry.SubjectKey: String] = [
            .peer: requester.ods.code, .studyUID: request.studyUID, .pushID: grant.id,
        ]
        if let rule = PushPolicy.serve(
            grant, holder: me, holderKeys: keys, requester: requester.ods, studyUID: request.studyUID,
            studyNHSNumber: nhs, optedOut: optedOut, now: now, policy: policy)
        {
            subject[.rule] = rule.rawValue
            try node.audit(.fetchRefused, actor: peer, subject: subject, details: LocalNode.auditJSON(grant))
            logger.warning(
                "pushed study's fetch refused",
                metadata: ["study": "\(request.studyUID)", "requester": "\(requester.ods)", "rule": "\(rule.rawValue)"])
            throw PeerRefusal(.notShared, rule.explanation, rule: ReportedRule(rule.rawValue))
        }
        let (manifest, transferID, answer) = try openTransfer(request, for: requester.ods, nhs: nhs, now: now)
        subject[.nhsNumber] = manifest.nhsNumber ?? ""
        subject[.transferID] = transferID
        // Audited before the manifest leaves: a share that cannot be logged does not happen.
        try node.audit(.fetchServed, actor: peer, subject: subject, details: LocalNode.auditJSON(grant))
        logger.info(
            "pushed study's manifest served",
            metadata: ["study": "\(request.studyUID)", "requester": "\(requester.ods)", "push": "\(grant.id)"])
        return answer
    }

    /// Checks a batch request of an open transfer and returns the batch, to be streamed.
    package func chunks(from requester: Topology.Trust, payload: [UInt8], now: Date = Date()) throws -> ChunkBatch {
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
        // The patient may have opted out since the manifest was served: the transfer ends here.
        if let nhs = transfer.nhsNumber, try node.isOptedOut(nhs) {
            transfers.withLock { _ = $0.removeValue(forKey: request.transferID) }
            try node.audit(
                .fetchRefused, actor: .system("peer \(requester.ods.code)"),
                subject: [
                    .peer: requester.ods.code, .studyUID: transfer.studyUID, .nhsNumber: nhs.digits,
                    .transferID: request.transferID, .rule: PolicyRule.optedOut.rawValue,
                ],
                details: "the patient opted out after the manifest was served; the transfer's batches are refused")
            logger.warning(
                "batch refused: the patient opted out during the transfer",
                metadata: ["study": "\(transfer.studyUID)", "requester": "\(requester.ods)"])
            throw PeerRefusal(.notShared, PolicyRule.optedOut.explanation, rule: .known(.optedOut))
        }
        let exitMidBatch = faults.withLock { faults in
            guard let remaining = faults.exitAfterBatches else { return false }
            faults.exitAfterBatches = remaining - 1
            return remaining <= 0
        }
        // Checked before the answer starts: once it streams, a failure can only cut it short.
        let places: [ChunkPlace]
        do {
            places = try node.store.places(of: request.hashes)
        } catch let error as StoreError {
            throw damaged(transfer, "\(error)")
        }
        if let missing = node.store.firstMissing(places) {
            throw damaged(transfer, "chunk \(missing.hash.hex.prefix(16))… is not on its disk")
        }
        return ChunkBatch(
            server: self, places: places, transferID: request.transferID, key: transfer.key,
            exitMidBatch: exitMidBatch)
    }

    /// A refusal for a study this node can no longer serve whole, logged loudly for its operators.
    private func damaged(_ transfer: Transfer, _ what: String) -> PeerRefusal {
        logger.error(
            "this node's store is damaged: a study it lists cannot be served",
            metadata: ["study": "\(transfer.studyUID)", "problem": "\(what)"])
        return PeerRefusal(
            .storeDamaged,
            "its own store has lost part of study \(transfer.studyUID) (\(what)); its operators must restore "
                + "it (`trustmesh export` there names what is damaged)")
    }

    /// A batch being served: its frames are read, sealed and written piece by piece, so the
    /// requester starts verifying the first chunks while the holder is still reading the last, and
    /// the holder holds one piece in memory, not the batch.
    package struct ChunkBatch: PeerStream {
        fileprivate let server: FetchServer
        let places: [ChunkPlace]
        let transferID: String
        let key: SymmetricKey
        let exitMidBatch: Bool

        /// Bytes of the whole answer.
        package var length: Int { places.reduce(0) { $0 + $1.stored + ChunkFrames.overhead } }

        /// Bytes of frames gathered into one write.
        static let pieceBytes = 512 << 10

        /// Calls `write` with each piece of the answer, in order.
        package func write(_ write: (ByteBuffer) async throws -> Void) async throws {
            var next = places[...]
            while !next.isEmpty {
                var count = 0
                var bytes = 0
                for place in next {
                    guard count == 0 || bytes + place.stored <= Self.pieceBytes else { break }
                    count += 1
                    bytes += place.stored + ChunkFrames.overhead
                }
                var out = ByteBufferAllocator().buffer(capacity: bytes)
                for place in next.prefix(count) { try frame(place, into: &out) }
                next = next.dropFirst(count)
                if exitMidBatch {  // half a piece, then gone: the requester sees a frame cut short
                    try await write(out.getSlice(at: out.readerIndex, length: out.readableBytes / 2)!)
                    server.logger.critical("fault injection: exiting mid-transfer")
                    _exit(75)
                }
                try await write(out)
            }
        }

        private func frame(_ place: ChunkPlace, into out: inout ByteBuffer) throws {
            let corrupt = server.faults.withLock { faults in
                guard faults.corruptChunks > 0 else { return false }
                faults.corruptChunks -= 1
                return true
            }
            try ChunkFrames.append(
                hash: place.hash, storedCount: place.stored, transferID: transferID, key: key, to: &out
            ) { space in
                try server.node.store.readStoredChunk(place, into: space)
                if corrupt, !space.isEmpty { space[space.count / 2] ^= 0x5A }
            }
        }
    }
}
