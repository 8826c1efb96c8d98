import Foundation
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

    /// A study held here whose patient has not opted out; nil otherwise (the study page's check).
    package func servableSummary(_ uid: String) throws -> StudySummary? {
        guard let summary = try store.study(uid: uid), !(try isOptedOut(patient: summary.nhsNumber)) else {
            return nil
        }
        return summary
    }

    /// Whether an instance held here may be shown (a thumbnail): its study is servable.
    package func isServable(instance sopInstanceUID: String) throws -> Bool {
        guard let study = try store.studyUID(ofInstance: sopInstanceUID) else { return false }
        return try servableSummary(study) != nil
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
}
