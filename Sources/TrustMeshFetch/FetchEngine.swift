package import Foundation
import Glibc
package import Logging
import NIOCore
import NIOPosix
import Synchronization
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshGossip
package import TrustMeshModel
package import TrustMeshNodeCore
package import TrustMeshPeer
import TrustMeshPolicy
import TrustMeshStore

/// The requester's side of fetches: asks the holder for the manifest, moves only the chunks this
/// node lacks, in batches over several connections, verifies every chunk before storing it, and
/// makes the study visible in one transaction when complete. Several fetches may run at once.
package final class FetchEngine: Sendable {
    /// Limits that keep memory bounded by batch size, not study size.
    package struct Settings: Sendable {
        /// Compressed bytes asked for in one batch.
        package var batchBytes = 8 << 20
        /// Batches in flight at once (parallel connections).
        package var connections = 4
        /// Times a chunk that fails verification is asked for again before the holder is abandoned.
        package var chunkRetries = 3
        /// Times a batch that fails in transit is retried.
        package var batchRetries = 3

        package init() {}
    }

    private let node: LocalNode
    private let client: PeerClient
    private let settings: Settings
    private let logger: Logger
    private let jobs = Mutex<[String: FetchProgress]>([:])
    /// What to call when a fetch ends (the fetches of emergency pushes, whose receiver is notified).
    private let endings = Mutex<[String: @Sendable (FetchProgress) -> Void]>([:])
    private let claims = ChunkClaims()
    private let metrics: (any FetchMetrics)?
    /// The network policy in force now (a membership version may change it while the node runs): a
    /// care relationship past the cap for its kind is not presented.
    private var policy: NetworkPolicy { node.networkPolicy }

    package init(
        node: LocalNode, client: PeerClient, settings: Settings = Settings(), logger: Logger,
        metrics: (any FetchMetrics)? = nil
    ) {
        self.metrics = metrics
        self.node = node
        self.client = client
        self.settings = settings
        self.logger = logger
    }

    /// Ended fetches kept for the API and the page (the audit log keeps every one).
    static let endedFetchesKept = 500

    /// Running fetches and the latest ended ones (at most ``endedFetchesKept``), newest first.
    package func all() -> [FetchProgress] { jobs.withLock { Array($0.values) }.sorted { $0.id > $1.id } }

    package func progress(_ id: String) -> FetchProgress? { jobs.withLock { $0[id] } }

    /// Starts fetching a study and returns its id at once; the work goes on in the background.
    ///
    /// Every step is audited with `actor` as who acted: `fetchRequested` (with the care
    /// relationship presented, its kind, and its JSON, so an emergency's justification is in this
    /// trust's log too), then `fetchCompleted` or `fetchAbandoned`.
    /// - Parameters:
    ///   - studyUID: The study.
    ///   - holder: The trust to fetch from; `nil` for whichever lists it.
    ///   - clinician: Present only a care relationship whose clinician has this display name.
    ///   - actor: Who asks: the signed-in person, or a system.
    ///   - now: The time the care relationship must be current at.
    /// - Throws: ``FetchError`` when the fetch cannot even start (unknown study, no care relationship).
    package func start(
        studyUID: String, from holder: TrustID?, clinician: String?, by actor: Actor, now: Date = Date()
    ) throws -> FetchProgress {
        let (record, care): (IndexRecord, CareRelationship)
        do {
            (record, care) = try prepare(studyUID: studyUID, holder: holder, clinician: clinician, now: now)
        } catch let error as FetchError {
            var subject: [AuditEntry.SubjectKey: String] = [.studyUID: studyUID]
            if let holder { subject[.peer] = holder.code }
            if let rule = error.rule {
                subject[.rule] = rule.name
                metrics?.fetchRefusal(rule.name)
            }
            try node.audit(.fetchAbandoned, actor: actor, subject: subject)
            throw error
        }
        try node.audit(
            .fetchRequested, actor: actor,
            subject: [
                .peer: record.origin.code, .studyUID: studyUID, .nhsNumber: record.nhsNumber.digits, .careID: care.id,
                .careKind: care.kind.rawValue,
            ],
            details: LocalNode.auditJSON(care))
        let id = Self.newID()
        let progress = FetchProgress(
            id: id, studyUID: studyUID, holder: record.origin.code, clinician: clinician ?? care.clinician,
            state: .requesting, chunksTotal: 0, chunksAlreadyHeld: 0, chunksReceived: 0, bytesToMove: 0,
            bytesReceived: 0, studyBytes: record.sizeBytes, chunksRefetched: 0, elapsedSeconds: 0, bytesPerSecond: 0,
            secondsLeft: nil, error: nil, rule: nil, transferID: nil)
        jobs.withLock { jobs in
            jobs[id] = progress
            // A node runs for months: keep every running fetch, and only the latest ended ones.
            let ended = jobs.values.filter { $0.state == .completed || $0.state == .failed }
            if ended.count > Self.endedFetchesKept {
                for job in ended.sorted(by: { $0.id < $1.id }).prefix(ended.count - Self.endedFetchesKept) {
                    jobs[job.id] = nil
                }
            }
        }
        launch(id: id, record: record, care: care, push: nil, clinician: clinician ?? care.clinician, actor: actor)
        return progress
    }

    /// Starts fetching a study another trust pushed here (an emergency push), under the grant the
    /// holder signed instead of a care relationship, and returns its id at once. Audited as
    /// `fetchRequested` (subject `pushID`, details the grant's JSON), then `fetchCompleted` or
    /// `fetchAbandoned`, with `actor` (the holder, on its clinician's behalf) as who acted.
    /// - Parameters:
    ///   - grant: The holder's push grant, already accepted here.
    ///   - record: The holder's signed index record of the study, verified.
    ///   - actor: Who asks.
    ///   - ended: Called once when the fetch ends, completed or failed.
    package func startPush(
        grant: PushGrant, record: IndexRecord, by actor: Actor,
        ended: @escaping @Sendable (FetchProgress) -> Void = { _ in }
    ) throws -> FetchProgress {
        try node.audit(
            .fetchRequested, actor: actor,
            subject: [
                .peer: record.origin.code, .studyUID: grant.studyUID, .nhsNumber: record.nhsNumber.digits,
                .pushID: grant.id,
            ],
            details: LocalNode.auditJSON(grant))
        let id = Self.newID()
        let progress = FetchProgress(
            id: id, studyUID: grant.studyUID, holder: record.origin.code, clinician: grant.clinician,
            state: .requesting, chunksTotal: 0, chunksAlreadyHeld: 0, chunksReceived: 0, bytesToMove: 0,
            bytesReceived: 0, studyBytes: record.sizeBytes, chunksRefetched: 0, elapsedSeconds: 0, bytesPerSecond: 0,
            secondsLeft: nil, error: nil, rule: nil, transferID: nil)
        jobs.withLock { $0[id] = progress }
        endings.withLock { $0[id] = ended }
        launch(id: id, record: record, care: nil, push: grant, clinician: grant.clinician, actor: actor)
        return progress
    }

    /// Runs a fetch in the background, ending it (``finish``) however it ends.
    private func launch(
        id: String, record: IndexRecord, care: CareRelationship?, push: PushGrant?, clinician: String, actor: Actor
    ) {
        let started = ContinuousClock.now
        Task {
            do {
                try await self.run(
                    id: id, record: record, care: care, push: push, clinician: clinician, actor: actor,
                    started: started)
            } catch let refusal as PeerRefusal {
                let failure: FetchFailure =
                    refusal.rule != nil ? .refused : refusal.code == .unavailable ? .holderUnreachable : .other
                self.finish(
                    id, actor: actor, started: started, error: "\(record.origin) refused: \(refusal.message)",
                    rule: refusal.rule, failure: failure)
            } catch let error as FetchError {
                self.finish(
                    id, actor: actor, started: started, error: error.description, rule: error.rule,
                    failure: error.failure)
            } catch {
                let failure: FetchFailure = PeerTransportFailure(error) == nil ? .other : .holderUnreachable
                self.finish(id, actor: actor, started: started, error: "\(error)", rule: nil, failure: failure)
            }
        }
    }

    /// Finds the study in the index and a current care relationship for its patient.
    private func prepare(studyUID: String, holder: TrustID?, clinician: String?, now: Date) throws -> (
        IndexRecord, CareRelationship
    ) {
        if let problem = DICOMUID.problem(studyUID) {
            throw FetchError(description: "StudyInstanceUID is not a valid UID: \(problem)")
        }
        let candidates = try node.store.index.latestStudyRecords(studyUID: studyUID)
            .filter { $0.origin != node.configuration.trust && (holder == nil || $0.origin == holder) }
        guard let record = candidates.first else {
            throw FetchError(
                description: holder == nil
                    ? "no other trust in the network lists study \(studyUID)"
                    : "\(holder!) does not list study \(studyUID)", failure: .notListed)
        }
        if try node.isOptedOut(record.nhsNumber) {
            throw FetchError(description: "the patient has opted out of sharing imaging", rule: .known(.optedOut))
        }
        var caps: [CareRelationship.Kind: TimeInterval] = [:]
        for kind in CareRelationship.Kind.allCases { caps[kind] = Self.seconds(policy.cap(kind)) }
        let cares = try node.store.care.current(for: record.nhsNumber, now: now, caps: caps)
            .filter { clinician == nil || $0.clinician == clinician }
        // A relationship naming a verified clinician first: the holder refuses the others
        // (`careClinicianUnverified`), but they are still presented when there is nothing else, so
        // the refusal is the holder's and is audited there.
        guard let care = cares.first(where: SharingPolicy.isVerified) ?? cares.first else {
            throw FetchError(
                description: "this trust has no current care relationship for the patient (NHS number ending "
                    + "\(record.nhsNumber.digits.suffix(4))): record one with `trustmesh care add` first",
                rule: .known(.noCareRelationship))
        }
        return (record, care)
    }

    private func run(
        id: String, record: IndexRecord, care: CareRelationship?, push: PushGrant? = nil, clinician: String,
        actor: Actor, started: ContinuousClock.Instant
    ) async throws {
        let exchange = KeyExchangeKeyPair()
        let request = ManifestRequest(
            studyUID: record.studyUID ?? "", care: care, push: push, clinician: clinician,
            transferKey: Data(exchange.publicKey).base64EncodedString())
        let answer = try await client.call(
            record.origin, path: FetchRoutes.manifest, payload: Array(try JSONEncoder().encode(request)))
        let response: ManifestResponse
        do {
            response = try JSONDecoder().decode(ManifestResponse.self, from: Data(answer))
        } catch {
            throw FetchError(
                description: "\(record.origin) answered with a manifest this node cannot read (is it running "
                    + "another TrustMesh release?): \(error)")
        }
        update(id) { $0.transferID = response.transferID }
        let manifest = response.manifest
        // Before anything is claimed, allocated or fetched for it: the manifest must be what the
        // holder's signed index record announced, with valid UIDs and sizes within the chunker's.
        do {
            try manifest.check(announced: record)
        } catch {
            throw FetchError(description: "\(record.origin) sent a manifest this node refuses: \(error)")
        }
        guard let holderKey = Data(base64Encoded: response.transferKey) else {
            throw FetchError(description: "\(record.origin) sent a malformed transfer key")
        }
        let keys = try KeyExchange.clientSessionKeys(client: exchange, serverPublicKey: [UInt8](holderKey))
        // Chunks another fetch is moving right now are waited for, not moved twice; what that
        // fetch fails to bring is then fetched here (BatchScheduler has the rules).
        defer { claims.release(id) }
        // A copy its origin corrected is replaced whole by this fetch, not merged with it.
        try node.discardCorrectedCopy(manifest.studyUID)
        let missing = try node.store.missingChunks(of: manifest)
        // Each instance's own header is read as its first chunk arrives (docs/ARCHITECTURE.md,
        // "Identity of data"); what could not be is read back before the commit.
        let headers = try node.store.headerCheck(for: manifest, nhsNumber: record.nhsNumber, receiving: missing)
        try await transfer(
            id: id, manifest: manifest, missing: missing, headers: headers, transferID: response.transferID,
            key: keys.rx, holder: record.origin, started: started)
        try node.store.commitTransfer(headers, source: "fetch:\(record.origin)")
        logger.info(
            "fetch completed",
            metadata: [
                "study": "\(manifest.studyUID)", "from": "\(record.origin)",
                "chunks": "\(progress(id)?.chunksReceived ?? 0)",
                "headersReadOnReceipt": "\(headers.readOnReceipt)/\(manifest.instances.count)",
            ])
        finish(id, actor: actor, started: started, error: nil, rule: nil)
    }

    /// Moves the chunks the study lacks here (`missing`), carrying out ``BatchScheduler``'s actions:
    /// claims, batches over up to `connections` parallel requests, retries, waits for other fetches.
    /// - Throws: as soon as a batch ends, the contradiction `headers` found, if any.
    private func transfer(
        id: String, manifest: TransferManifest, missing: [TransferManifest.Chunk], headers: TransferHeaderCheck,
        transferID: String, key: SymmetricKey, holder: TrustID, started: ContinuousClock.Instant
    ) async throws {
        let distinct = manifest.distinctChunks
        let pool = BatchBufferPool()
        var scheduler = BatchScheduler(
            settings: .init(
                batchBytes: settings.batchBytes, connections: settings.connections, chunkRetries: settings.chunkRetries)
        )
        var actions = scheduler.start(missing: missing)[...]
        try await withThrowingTaskGroup(of: [TransferManifest.Chunk].self) { group in
            while true {
                while let action = actions.popFirst() {
                    switch action {
                    case .claim(let missing):
                        let (mine, others) = claims.claim(missing, for: id)
                        update(id) {
                            $0.state = .transferring
                            $0.chunksTotal = distinct.count
                            $0.chunksAlreadyHeld = distinct.count - $0.chunksReceived - mine.count
                            $0.bytesToMove = $0.bytesReceived + mine.reduce(0) { $0 + $1.stored }
                            $0.studyBytes = manifest.size
                        }
                        actions += scheduler.claimed(mine: mine, others: others)
                    case .fetch(let batch):
                        group.addTask {
                            try await self.fetchBatch(
                                batch, id: id, transferID: transferID, key: key, holder: holder, started: started,
                                pool: pool, headers: headers)
                        }
                    case .retry(let chunks):
                        update(id) { $0.chunksRefetched += chunks.count }
                    case .release:
                        claims.release(id)
                    case .waitForOthers(let others):
                        logger.info(
                            "fetch waits for chunks another fetch is moving",
                            metadata: ["study": "\(manifest.studyUID)", "fetches": "\(others.count)"])
                        update(id) { $0.waitingForOtherFetches = others.count }
                        await claims.wait(for: others)
                        update(id) { $0.waitingForOtherFetches = nil }
                        actions += scheduler.othersEnded(stillMissing: try node.store.missingChunks(of: manifest))
                    case .abandon(let chunk):
                        throw FetchError(
                            description: "\(holder) kept sending chunk \(chunk.hash.hex.prefix(16))… that does not "
                                + "match its hash (\(settings.chunkRetries + 1) attempts); the fetch was abandoned and "
                                + "can be resumed later")
                    case .done:
                        return
                    }
                }
                guard let failed = try await group.next() else {
                    preconditionFailure("the batch scheduler waits for a batch while none is in flight")
                }
                // Nothing of a study that contradicts its manifest is committed: stop moving it.
                if let contradiction = headers.contradiction { throw contradiction }
                actions += scheduler.batchEnded(failed: failed)
            }
        }
    }

    /// Fetches, verifies and stores one batch; returns the chunks that failed verification. Chunks
    /// are verified as their frames arrive, while the holder is still sending the rest.
    private func fetchBatch(
        _ batch: [TransferManifest.Chunk], id: String, transferID: String, key: SymmetricKey, holder: TrustID,
        started: ContinuousClock.Instant, pool: BatchBufferPool, headers: TransferHeaderCheck
    ) async throws -> [TransferManifest.Chunk] {
        try ensureRoom(forBytes: batch.reduce(0) { $0 + $1.stored })
        let request = ChunkBatchRequest(transferID: transferID, hashes: batch.map(\.hash))
        let payload = Array(try JSONEncoder().encode(request))
        let buffers = pool.take()
        defer { pool.give(buffers) }
        // Aligned and padded so the pack can be written without a copy into the page cache.
        let alignment = FileChunkStore.directIOAlignment
        let (pack, plain) = buffers.reserve(
            pack: (batch.reduce(0) { $0 + $1.stored } + alignment - 1) / alignment * alignment,
            plain: batch.map(\.size).max() ?? 0)
        var receiver = BatchReceiver(
            batch: batch, transferID: transferID, key: key, pack: pack, plain: plain, holder: holder, logger: logger,
            headers: headers)
        var failure: (any Error)?
        for _ in 1...settings.batchRetries {
            receiver.restart()
            do {
                try await client.callStreaming(
                    holder, path: FetchRoutes.chunks, payload: payload, buffer: &buffers.body
                ) { receiver.take(&$0) }
                failure = nil
                break
            } catch let refusal as PeerRefusal where refusal.code != .unavailable {
                throw refusal
            } catch {
                failure = error
            }
        }
        // What was verified is stored even when the last attempt broke off: a resumed fetch
        // starts from it.
        let used = receiver.used
        let padded = (used + alignment - 1) / alignment * alignment
        UnsafeMutableRawBufferPointer(rebasing: pack[used..<padded]).initializeMemory(as: UInt8.self, repeating: 0)
        // Written and flushed on NIO's blocking-I/O threads: the fdatasync must not hold one of the
        // few threads that verify chunks (docs/ARCHITECTURE.md, "Fetch").
        let store = node.store
        let packed = PackBytes(bytes: UnsafeRawBufferPointer(rebasing: pack[..<padded]))
        let good = receiver.good
        try await NIOThreadPool.singleton.runIfActive { try store.storeVerifiedChunks(packed.bytes, chunks: good) }
        update(id) {
            $0.chunksReceived += good.count
            $0.bytesReceived += used
        }
        refreshRate(id, started: started)
        if let failure {
            throw FetchError(
                description: "\(holder) stopped sending chunks part way and \(settings.batchRetries) attempts did "
                    + "not get them (\(PeerTransportFailure(failure)?.description ?? "\(failure)")); what arrived is kept: ask for the study "
                    + "again to resume", failure: .holderUnreachable)
        }
        let verified = Set(good.map(\.chunk.hash))
        return batch.filter { !verified.contains($0.hash) }
    }

    private func update(_ id: String, _ change: (inout FetchProgress) -> Void) {
        jobs.withLock { jobs in
            if var job = jobs[id] {
                change(&job)
                jobs[id] = job
            }
        }
    }

    private func refreshRate(_ id: String, started: ContinuousClock.Instant) {
        let elapsed = Self.seconds(ContinuousClock.now - started)
        update(id) {
            $0.elapsedSeconds = elapsed
            $0.bytesPerSecond = elapsed > 0 ? Double($0.bytesReceived) / elapsed : 0
            let left = $0.bytesToMove - $0.bytesReceived
            $0.secondsLeft = $0.bytesPerSecond > 0 ? Double(left) / $0.bytesPerSecond : nil
        }
    }

    private func finish(
        _ id: String, actor: Actor, started: ContinuousClock.Instant, error: String?, rule: ReportedRule?,
        failure: FetchFailure? = nil
    ) {
        refreshRate(id, started: started)
        update(id) {
            $0.state = error == nil ? .completed : .failed
            $0.error = error
            $0.rule = rule
            $0.failure = error == nil ? nil : failure ?? .other
            $0.secondsLeft = error == nil ? 0 : nil
        }
        if let error { logger.warning("fetch failed", metadata: ["id": "\(id)", "reason": "\(error)"]) }
        if let rule { metrics?.fetchRefusal(rule.name) }
        metrics?.fetchEnded(
            completed: error == nil, bytes: progress(id)?.bytesReceived ?? 0, duration: ContinuousClock.now - started)
        if let job = progress(id) {
            var subject: [AuditEntry.SubjectKey: String] = [.peer: job.holder, .studyUID: job.studyUID]
            if let transferID = job.transferID { subject[.transferID] = transferID }
            if error == nil {
                subject[.bytes] = "\(job.bytesReceived)"
                subject[.chunks] = "\(job.chunksReceived)"
            } else if let rule {
                subject[.rule] = rule.name
            }
            do {
                try node.audit(error == nil ? .fetchCompleted : .fetchAbandoned, actor: actor, subject: subject)
            } catch {
                logger.error("could not audit the end of a fetch", metadata: ["id": "\(id)", "error": "\(error)"])
            }
        }
        if let ended = endings.withLock({ $0.removeValue(forKey: id) }), let job = progress(id) { ended(job) }
    }

    /// Refuses a batch the node's disk has no room for, keeping a reserve for the catalogue and the
    /// audit log: a fetch must never take the space the node needs to record that it failed, or to
    /// audit the queries that follow (a fetch that filled the disk left every audited door answering
    /// 500). The reserve is 5% of the file system, at least 256 KiB and at most 64 MiB.
    /// - Throws: a disk-full ``StoreError`` (`ENOSPC`), as a write into a full disk would.
    private func ensureRoom(forBytes bytes: Int) throws {
        let folder = node.directory + "/store"
        var stats = statvfs()
        guard statvfs(folder, &stats) == 0 else { return }
        let unit = Int(stats.f_frsize)
        let available = Int(stats.f_bavail) * unit
        let reserve = min(64 << 20, max(256 << 10, Int(stats.f_blocks) * unit / 20))
        guard available >= bytes + reserve else {
            throw StoreError.io(path: folder, operation: "stage a batch of \(bytes) bytes in", errno: ENOSPC)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func newID() -> String {
        let stamp = String(Int(Date().timeIntervalSince1970 * 1000), radix: 36)
        return stamp + "-" + Random.bytes(4).map { String($0, radix: 16) }.joined()
    }
}
