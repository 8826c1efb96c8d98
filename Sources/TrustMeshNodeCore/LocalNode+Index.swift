import Foundation
import Synchronization
import TrustMeshCrypto
package import TrustMeshGossip
public import TrustMeshModel
import TrustMeshPolicy
public import TrustMeshStore

extension LocalNode {
    /// Ingests files and publishes an index record for every matched study whose content changed.
    ///
    /// Unmatched studies (no valid NHS number) are stored but never published.
    /// - Parameters:
    ///   - actor: who the audit log names (``localOperator`` for the CLI, the DICOMweb client for STOW-RS).
    ///   - mayCorrect: whether `actor` may correct an instance of a held study (other bytes under its
    ///     SOP Instance UID): the trust's operator, through its own ingest doors. Each correction is
    ///     audited as `instanceCorrected` with the old and new manifest hashes, and the study's index
    ///     record republished.
    public func ingest(
        paths: [String], actor: Actor, mayCorrect: Bool = false, progress: (@Sendable (IngestProgress) -> Void)? = nil
    ) async throws -> (report: IngestReport, published: [IndexRecord]) {
        let report: IngestReport
        do {
            report = try await store.ingest(paths: paths, mayCorrect: mayCorrect, progress: progress)
        } catch let stopped as IngestInterrupted {
            // What was committed is whole: audit and publish it, then record why the rest was not
            // stored (best effort: on a full disk the log may not have room either).
            let done = stopped.report
            _ = try? finishIngest(
                studies: Set(done.studies), unmatched: Set(done.unmatchedStudies), refused: done.failures,
                corrections: done.corrections, actor: actor)
            try? audit(.ingestFailed, actor: actor, details: "\(stopped.cause)")
            throw stopped
        }
        let published = try finishIngest(
            studies: Set(report.studies), unmatched: Set(report.unmatchedStudies), refused: report.failures,
            corrections: report.corrections, actor: actor)
        return (report, published)
    }

    /// What follows the store's ingest, for every ingest path (CLI, DICOM C-STORE, STOW-RS): one
    /// `ingestRefused` audit entry per refused file, one `ingest` entry per study touched, then
    /// index records for the matched studies whose content changed.
    /// - Parameters:
    ///   - studies: every study that received instances.
    ///   - unmatched: those without a valid NHS number (stored, never published).
    ///   - refused: files refused, with their reasons.
    ///   - corrections: instances replaced by other bytes (each audited as `instanceCorrected`).
    ///   - actor: who sent the instances, for the audit log.
    /// - Returns: the records published.
    @discardableResult
    public func finishIngest(
        studies: Set<String>, unmatched: Set<String>, refused: [IngestReport.Failure] = [],
        corrections: [IngestReport.Correction] = [], actor: Actor
    ) throws -> [IndexRecord] {
        try auditRefused(refused.map(\.reason), actor: actor)
        for correction in corrections {
            try audit(
                .instanceCorrected, actor: actor,
                subject: [.studyUID: correction.studyUID, .sopInstanceUID: correction.sopInstanceUID],
                details: "manifest \(correction.oldManifestHash) replaced by \(correction.newManifestHash)")
        }
        let matched = studies.subtracting(unmatched)
        for uid in studies.sorted() {
            var subject: [AuditEntry.SubjectKey: String] = [.studyUID: uid]
            if matched.contains(uid), let nhs = try store.study(uid: uid)?.nhsNumber { subject[.nhsNumber] = nhs }
            try audit(.ingest, actor: actor, subject: subject)
        }
        let rejected = try settleRejections(studies: studies, actor: actor)
        return rejected + (try publishChanges(studyUIDs: matched.sorted()))
    }

    /// Audits refusals of offered instances, one `ingestRefused` entry each (every refusal is audited).
    /// - Parameter reasons: each refusal's reason, naming the file or instance.
    public func auditRefused(_ reasons: [String], actor: Actor) throws {
        for reason in reasons { try audit(.ingestRefused, actor: actor, details: reason) }
    }

    /// Signs and stores a new index record for each study whose content differs from what this node
    /// last published for it (or that it never published).
    /// - Returns: the records published.
    @discardableResult
    public func publishChanges(studyUIDs: [String]) throws -> [IndexRecord] {
        let key = try signingKey()
        let index = store.index
        var published: [IndexRecord] = []
        for uid in studyUIDs {
            guard let summary = try store.study(uid: uid), let digits = summary.nhsNumber,
                let nhs = try? NHSNumber(digits)
            else { continue }
            let manifest = try store.studyManifestHash(uid: uid)
            let trust = configuration.trust
            let record = try index.publish(origin: trust) { sequence in
                if let last = try index.latest(origin: trust, studyUID: uid), last.kind == .study,
                    last.manifestHash == manifest, last.nhsNumber == nhs
                {
                    return nil
                }
                return IndexRecord.Draft(
                    origin: trust, sequence: sequence, kind: .study, nhsNumber: nhs, studyUID: uid,
                    studyDate: summary.studyDate, modalities: summary.modalities, bodyParts: summary.bodyParts,
                    studyDescription: summary.description, accessionNumber: summary.accessionNumber,
                    seriesCount: summary.seriesCount, instanceCount: summary.instanceCount,
                    sizeBytes: summary.sizeBytes, manifestHash: manifest, issuedAt: Self.now()
                ).signed(by: key)
            }
            if let record {
                published.append(record)
                try audit(.recordPublished, actor: .system("node"), subject: Self.auditSubject(record))
            }
        }
        return published
    }

    /// The audit subject of an index record.
    static func auditSubject(_ record: IndexRecord) -> [AuditEntry.SubjectKey: String] {
        var subject: [AuditEntry.SubjectKey: String] = [
            .origin: record.origin.code, .recordSequence: "\(record.sequence)", .recordKind: record.kind.rawValue,
            .nhsNumber: record.nhsNumber.digits,
        ]
        if let uid = record.studyUID { subject[.studyUID] = uid }
        return subject
    }

    /// Every study for a patient across the network, from this node's copy of the index; audited
    /// as `query` naming `actor`. A trust with an unresolved index-record conflict is listed as it
    /// was before the fork (its records below the disputed sequence).
    /// - Parameters:
    ///   - topology: names the holding trusts (optional).
    ///   - actor: who asks (``localOperator`` for the CLI).
    public func query(nhs: NHSNumber, topology: Topology? = nil, by actor: Actor) throws -> FederatedQueryResult {
        // The audit entry is written and synced while the index is read; the answer is returned
        // only once the entry is durable (an entry that cannot be written fails the query, as
        // before), but the sync's wait is no longer added to every query's.
        let audited = BackgroundWork { try self.audit(.query, actor: actor, subject: [.nhsNumber: nhs.digits]) }
        let result = Result { try answer(nhs: nhs, topology: topology) }
        try audited.wait()
        return try result.get()
    }

    private func answer(nhs: NHSNumber, topology: Topology?) throws -> FederatedQueryResult {
        let (records, held) = try store.index.patient(nhs: nhs)
        // A trust with an unresolved equivocation is listed as it was before the fork: its records
        // from the first disputed sequence on are left out until an operator resolves it. Opt-outs
        // are judged on every record, as at every other door.
        let forks = try forkPoints()
        let view = IndexView(records.filter { record in forks[record.origin].map { record.sequence < $0 } ?? true })
        guard !OptOutPolicy.decide(records, policy: networkPolicy).optedOut else {
            return FederatedQueryResult(nhsNumber: nhs.digits, optedOut: true, studies: [])
        }
        // A copy whose origin withdrew or corrected it is no local copy (the one serving rule:
        // LocalNode+Held.swift).
        let hidden = Set(try copyMarks(studyUIDs: held).map(\.studyUID))
        let studies = try view.studies(for: nhs).compactMap { record -> FederatedQueryResult.Study? in
            guard let uid = record.studyUID else { return nil }
            return FederatedQueryResult.Study(
                studyInstanceUID: uid, holder: record.origin.code, holderName: topology?.trust(record.origin)?.name,
                studyDate: record.studyDate, modalities: record.modalities, bodyParts: record.bodyParts,
                description: record.studyDescription, accessionNumber: record.accessionNumber,
                seriesCount: record.seriesCount, instanceCount: record.instanceCount, sizeBytes: record.sizeBytes,
                localCopy: held.contains(uid) && !hidden.contains(uid))
        }
        .sorted {
            ($0.studyDate ?? "", $0.holder, $0.studyInstanceUID) > ($1.studyDate ?? "", $1.holder, $1.studyInstanceUID)
        }
        return FederatedQueryResult(nhsNumber: nhs.digits, optedOut: false, studies: studies)
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}

/// The gossip layer's view of the node's SQLite index; every record it stores is audited, and the
/// equivocations gossip finds are kept, audited and raised through ``LocalNode/recordConflict(kind:trust:number:reason:first:second:actor:now:)``.
package struct SQLiteIndexLog: IndexLog {
    let table: IndexTable
    let node: LocalNode

    package init(table: IndexTable, node: LocalNode) {
        self.table = table
        self.node = node
    }

    package func digest() async throws -> [TrustID: UInt64] { try table.digest() }

    package func heads() async throws -> [TrustID: IndexHead] {
        try table.heads().mapValues {
            IndexHead(sequence: $0.sequence, fingerprint: RecordFingerprint(contentHash: $0.contentHash))
        }
    }

    package func records(origin: TrustID, after: UInt64, limit: Int) async throws -> [IndexRecord] {
        try table.records(origin: origin, after: after, limit: limit)
    }

    package func append(_ records: [IndexRecord]) async throws {
        let appended = try table.append(records)
        for record in appended {
            try node.audit(.recordReceived, actor: .system("gossip"), subject: LocalNode.auditSubject(record))
            try node.auditRefusedOptOuts([record])
        }
        // Copies held here of studies their origin has just withdrawn or corrected are hidden.
        try node.followOrigins(appended)
    }

    package func unresolvedConflicts() async throws -> [IndexConflict] {
        try node.unresolvedConflicts(kind: .indexRecord).compactMap { conflict in
            guard let (held, other) = conflict.records, held.origin == other.origin, held.sequence == other.sequence
            else { return nil }
            return IndexConflict(held: held, other: other)
        }
    }

    package func recordConflict(_ conflict: IndexConflict) async throws -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let whose = conflict.origin == node.configuration.trust ? "this node's own key" : "\(conflict.origin)'s key"
        return try node.recordConflict(
            kind: .indexRecord, trust: conflict.origin, number: conflict.sequence,
            reason: "two different index records of \(conflict.origin) with sequence \(conflict.sequence), "
                + "both signed with \(whose)",
            first: try encoder.encode(conflict.held), second: try encoder.encode(conflict.other))
    }
}

/// Work started on another thread while the caller goes on; ``wait()`` returns once it is done and
/// rethrows its error. The thread is a serial queue's (libdispatch gives those a thread of their own
/// even when the shared pool is busy), so a caller that waits can never wait for itself.
private final class BackgroundWork: Sendable {
    private static let queue = DispatchQueue(label: "trustmesh.background-work")
    private let done = DispatchSemaphore(value: 0)
    private let failure = Mutex<(any Error)?>(nil)

    init(_ body: @escaping @Sendable () throws -> Void) {
        Self.queue.async { [self] in
            do { try body() } catch { failure.withLock { $0 = error } }
            done.signal()
        }
    }

    func wait() throws {
        done.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
