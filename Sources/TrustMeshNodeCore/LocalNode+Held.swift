package import Foundation
package import TrustMeshModel
import TrustMeshPolicy
package import TrustMeshStore

/// What every door asks of the studies held here: is the patient opted out, which studies (and
/// which of their series and instances) may be served, and the audit entry written before any of
/// them leaves. DICOMweb, the DICOM listener and the fetch holder all answer through these.
extension LocalNode {
    /// Whether the patient has opted out of sharing, by this node's copy of the network's index: the
    /// one opt-out check every door asks (`OptOutPolicy`: only opt-outs from a trust that may record
    /// one count, and the latest of those and their withdrawals decides).
    package func isOptedOut(_ nhs: NHSNumber) throws -> Bool {
        try optOutDecision(nhs).optedOut
    }

    /// Whether a stored study's patient (its NHS number as catalogued, nil for an unmatched study)
    /// has opted out. A study with no valid NHS number has no one to opt out.
    package func isOptedOut(patient digits: String?) throws -> Bool {
        guard let digits, let nhs = try? NHSNumber(digits) else { return false }
        return try isOptedOut(nhs)
    }

    /// A study held here whose patient has not opted out, with its instances; nil otherwise (an
    /// opted-out patient's studies are not shown or served by any door).
    package func servableStudy(_ uid: String) throws -> (summary: StudySummary, manifest: TransferManifest)? {
        guard let summary = try servableSummary(uid), let manifest = try store.transferManifest(studyUID: uid)
        else { return nil }
        return (summary, manifest)
    }

    /// A study held here whose patient has not opted out and whose origin has not withdrawn or
    /// corrected it (``copyMark(_:)`` says why); nil otherwise (the study page's check).
    package func servableSummary(_ uid: String) throws -> StudySummary? {
        guard let summary = try store.study(uid: uid), !(try isOptedOut(patient: summary.nhsNumber)),
            try copyMark(uid) == nil
        else {
            return nil
        }
        return summary
    }

    /// Whether a study held here may be listed by a door: ``servableSummary(_:)``'s rule for a
    /// summary already read (not opted out, not withdrawn or corrected at its origin).
    package func isServable(_ summary: StudySummary) throws -> Bool {
        try !isOptedOut(patient: summary.nhsNumber) && copyMark(summary.studyInstanceUID) == nil
    }

    /// The study of an instance held here, when it may be shown (a thumbnail); nil otherwise.
    package func servableSummary(instance sopInstanceUID: String) throws -> StudySummary? {
        guard let study = try store.studyUID(ofInstance: sopInstanceUID) else { return nil }
        return try servableSummary(study)
    }

    /// The audit subject naming a held study (and its patient), and the series or instance asked
    /// for: the same keys for every door's query or retrieve of it.
    package static func auditSubject(_ summary: StudySummary, series: String? = nil, instance: String? = nil)
        -> [AuditEntry.SubjectKey: String]
    {
        var subject: [AuditEntry.SubjectKey: String] = [.studyUID: summary.studyInstanceUID]
        if let nhs = summary.nhsNumber { subject[.nhsNumber] = nhs }
        if let series { subject[.seriesUID] = series }
        if let instance { subject[.sopInstanceUID] = instance }
        return subject
    }

    /// What a local retrieve sends, for its audit entry.
    package enum RetrieveContent {
        /// The instances' bytes.
        case instances
        /// Only their attributes (DICOMweb metadata).
        case metadata
    }

    /// Audits a retrieve of `chosen` instances of a held study by a local client (DICOMweb WADO-RS
    /// and metadata, a DICOM C-MOVE) as `retrieve`. Called before the first byte leaves: a retrieve
    /// that cannot be logged does not happen.
    /// - Parameters:
    ///   - series: the series named, when one was.
    ///   - instance: the instance named, when one was.
    package func auditRetrieve(
        _ summary: StudySummary, chosen: [TransferManifest.Instance], content: RetrieveContent = .instances,
        series: String? = nil, instance: String? = nil, actor: Actor, details: String? = nil
    ) throws {
        var subject = Self.auditSubject(summary, series: series, instance: instance)
        switch content {
        case .instances:
            subject[.bytes] = "\(chosen.reduce(0) { $0 + $1.size })"
            subject[.instances] = "\(chosen.count)"
        case .metadata:
            subject[.metadata] = "\(chosen.count)"
        }
        try audit(.retrieve, actor: actor, subject: subject, details: details)
    }

    /// Audits a look at a held study on the page as `view`, before the page or picture leaves: a
    /// view that cannot be logged is not shown.
    ///
    /// A study page view (`thumbnail` nil) always writes an entry (details `study page`). A thumbnail
    /// writes one (details `thumbnail`, naming the instance) only when `window` has no entry of the
    /// study by the same actor in its last ``ViewAuditWindow/length``; each entry written opens
    /// that window, which then covers the actor's thumbnails of the study.
    /// - Parameters:
    ///   - thumbnail: the SOP Instance UID of the thumbnail asked for; nil for the study page.
    ///   - actor: who looks: the signed-in person (and session).
    ///   - window: the page's table of recent `view` entries.
    /// - Throws: the audit log's error; nothing may be shown then.
    package func auditView(
        _ summary: StudySummary, thumbnail: String? = nil, actor: Actor, window: ViewAuditWindow, now: Date = Date()
    ) throws {
        let uid = summary.studyInstanceUID
        guard let thumbnail else {
            try audit(.view, actor: actor, subject: Self.auditSubject(summary), details: "study page")
            window.opened(actor, studyUID: uid, at: now)
            return
        }
        guard window.claim(actor, studyUID: uid, at: now) else { return }
        do {
            try audit(
                .view, actor: actor, subject: Self.auditSubject(summary, instance: thumbnail), details: "thumbnail")
        } catch {
            window.release(actor, studyUID: uid, at: now)
            throw error
        }
    }

    /// Writes a held study's files to `directory` (``StudyStore/export(studyUID:to:)``), audited
    /// first as `export`: subject `nhsNumber`, `studyUID`, `instances`, `bytes`; details the
    /// folder's absolute path. An export that cannot be logged writes nothing; one that fails after
    /// its entry (a file already there) leaves the entry, which records what was attempted.
    /// - Parameters:
    ///   - directory: the output folder (created if missing).
    ///   - actor: who exports: ``localOperator`` for `trustmesh export --data`.
    /// - Throws: the audit log's error, or the store's (an unknown study, an existing file).
    package func export(studyUID: String, to directory: String, by actor: Actor) throws -> ExportReport {
        // A study not held here: the store refuses it, and nothing is disclosed.
        guard let summary = try store.study(uid: studyUID) else {
            return try store.export(studyUID: studyUID, to: directory)
        }
        if let mark = try copyMark(studyUID) {
            try audit(
                .export, actor: actor, subject: Self.auditSubject(summary),
                details: "refused: the copy held here was \(mark.note)")
            throw NodeError.copyHidden(studyUID: studyUID, note: mark.note)
        }
        let instances = try store.transferManifest(studyUID: studyUID)?.instances ?? []
        var subject = Self.auditSubject(summary)
        subject[.instances] = "\(instances.count)"
        subject[.bytes] = "\(instances.reduce(0) { $0 + $1.size })"
        try audit(
            .export, actor: actor, subject: subject, details: URL(fileURLWithPath: directory).standardizedFileURL.path)
        return try store.export(studyUID: studyUID, to: directory)
    }
}
