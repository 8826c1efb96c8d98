import Foundation
public import TrustMeshModel
package import TrustMeshStore

/// Corrections follow the copies (issue 18; docs/ARCHITECTURE.md): at the origin, an IOCM rejection
/// note withdraws or re-announces its study; at every node holding a fetched copy, the origin's
/// withdrawal or re-announcement with other content hides the copy, says why, and tells the operator.
extension LocalNode {
    /// Audits and publishes the rejection notes the store applied for an ingest that touched
    /// `studies` (every ingest door ends in ``finishIngest(studies:unmatched:refused:corrections:actor:)``,
    /// which calls this): one `studyRejected` entry each, then a `withdrawn` index record when the
    /// whole study was rejected, else a re-announcement with the new counts and manifest hash. Each
    /// rejection is settled once, so a crash before it only repeats this at the next ingest.
    /// - Returns: the records published.
    @discardableResult
    package func settleRejections(studies: Set<String>, actor: Actor) throws -> [IndexRecord] {
        var published: [IndexRecord] = []
        for rejection in try store.unsettledRejections(studies: studies) {
            var subject: [AuditEntry.SubjectKey: String] = [
                .studyUID: rejection.studyUID, .sopInstanceUID: rejection.noteUID,
                .instances: "\(rejection.instances)",
            ]
            if let nhs = rejection.nhsNumber { subject[.nhsNumber] = nhs }
            let outcome = rejection.studyRemoved ? "every instance rejected: study withdrawn" : "study re-announced"
            try audit(
                .studyRejected, actor: actor, subject: subject,
                details: "\(rejection.code) \(rejection.meaning): \(outcome)")
            if rejection.studyRemoved {
                let reason = "\(rejection.meaning) (DCM \(rejection.code))"
                if let record = try publishWithdrawal(studyUID: rejection.studyUID, reason: reason) {
                    published.append(record)
                }
            } else {
                published += try publishChanges(studyUIDs: [rejection.studyUID])
            }
            try store.settleRejection(rejection.noteUID)
        }
        return published
    }

    /// Publishes a `withdrawn` index record for a study this node announced and no longer holds;
    /// nothing when its latest record is already a withdrawal or it never announced it.
    ///
    /// The record carries `reason` in its study description: the canonical record encoding (a
    /// wire format) has no field for a reason, and a withdrawn record has no description to keep.
    /// - Returns: the record published, if any.
    @discardableResult
    package func publishWithdrawal(studyUID: String, reason: String?) throws -> IndexRecord? {
        let key = try signingKey()
        let index = store.index
        let trust = configuration.trust
        let record = try index.publish(origin: trust) { sequence in
            guard let last = try index.latest(origin: trust, studyUID: studyUID), last.kind == .study else {
                return nil
            }
            return IndexRecord.Draft(
                origin: trust, sequence: sequence, kind: .withdrawn, nhsNumber: last.nhsNumber, studyUID: studyUID,
                studyDate: last.studyDate, modalities: last.modalities, bodyParts: last.bodyParts,
                studyDescription: reason, accessionNumber: last.accessionNumber, issuedAt: Self.now()
            ).signed(by: key)
        }
        if let record {
            try audit(.recordPublished, actor: .system("node"), subject: Self.auditSubject(record))
        }
        return record
    }

    /// Marks the copies held here of studies whose origin, in `records` (just received by gossip),
    /// withdrew them or announced other content for them; each newly marked copy is audited as
    /// `copyMarked` and written to standard error as a warning for the operator.
    ///
    /// A copy is a study held here that this node never announced itself (a fetched study: fetches
    /// are not published). A `withdrawn` record marks it withdrawn; a `study` record whose manifest
    /// hash differs from the copy's marks it corrected (offered for fetching again).
    /// - Returns: the marks made.
    @discardableResult
    package func followOrigins(_ records: [IndexRecord]) throws -> [CopyMark] {
        let trust = configuration.trust
        let candidates = records.filter { $0.origin != trust && ($0.kind == .study || $0.kind == .withdrawn) }
        // One read for the whole batch: almost every record names a study not held here.
        let held = try store.heldStudies(among: Set(candidates.compactMap(\.studyUID)))
        guard !held.isEmpty else { return [] }
        var seen: Set<String> = []
        var marks: [CopyMark] = []
        for record in candidates.reversed() {
            guard let uid = record.studyUID, held.contains(uid), seen.insert(record.origin.code + " " + uid).inserted,
                try store.index.latest(origin: trust, studyUID: uid) == nil,
                let latest = try store.index.latest(origin: record.origin, studyUID: uid)
            else { continue }
            let state: CopyMark.State
            if latest.kind == .withdrawn {
                state = .withdrawn
            } else if latest.kind == .study, latest.manifestHash != nil,
                latest.manifestHash != (try store.studyManifestHash(uid: uid))
            {
                state = .corrected
            } else {
                continue
            }
            if let held = try store.copyMark(studyUID: uid), held.origin == latest.origin.code,
                held.recordSequence == latest.sequence
            {
                continue
            }
            let mark = CopyMark(
                studyUID: uid, origin: latest.origin.code, state: state,
                reason: state == .withdrawn ? latest.studyDescription : nil, recordSequence: latest.sequence,
                issuedAt: latest.issuedAt, markedAt: Self.now())
            try store.mark(mark)
            var subject = Self.auditSubject(latest)
            subject[.studyUID] = uid
            try audit(.copyMarked, actor: .system("gossip"), subject: subject, details: mark.note)
            let line =
                "\(Self.now()) warning trustmesh.corrections : origin=\(mark.origin) study=\(uid) "
                + "a copy held here is hidden: \(mark.note)\n"
            FileHandle.standardError.write(Data(line.utf8))
            marks.append(mark)
        }
        return marks
    }

    /// Why a study held here may not be served, when its origin withdrew or corrected it; nil when
    /// it may (the opt-out is asked separately, ``isOptedOut(patient:)``).
    package func copyMark(_ studyUID: String) throws -> CopyMark? {
        try store.copyMark(studyUID: studyUID)
    }

    /// Every copy held here hidden because its origin withdrew or corrected it (the operator's list).
    package func copyMarks() throws -> [CopyMark] { try store.copyMarks() }

    /// The marks of those of `studyUIDs` held here that are marked (one patient's studies).
    package func copyMarks(studyUIDs: some Collection<String>) throws -> [CopyMark] {
        try store.copyMarks(studyUIDs: studyUIDs)
    }

    /// Before a study is fetched: a copy held here that its origin corrected is discarded (its
    /// catalogue rows; its chunks stay, so what did not change is not moved again), so the fetch
    /// brings the new version whole. A copy that is not marked corrected is left alone.
    package func discardCorrectedCopy(_ studyUID: String) throws {
        guard let mark = try store.copyMark(studyUID: studyUID), mark.state == .corrected else { return }
        try store.discardCopy(studyUID: studyUID)
    }
}
