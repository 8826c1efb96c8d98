import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TrustMeshAccess
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

// QIDO-RS (PS3.18 §10.6): searches for studies, series and instances.
extension DICOMwebRoutes {
    // MARK: QIDO-RS

    func searchStudies(_ request: Request) throws -> Response {
        try requireJSON(request)
        let query = try QIDOQuery.parse(parameters(request), level: .study)
        let actor = actor(request)
        let base = base(request)
        var results: [DICOMJSONObject] = []
        if let nhs = query.patientID {
            // The federated index: every trust's studies for this patient (audited as `query`).
            let federated = try node.query(nhs: nhs, topology: topology, by: actor)
            for study in federated.studies
            where query.matchesStudy(
                nhsNumber: nhs.digits, studyUID: study.studyInstanceUID, studyDate: study.studyDate,
                modalities: study.modalities, accession: study.accessionNumber)
            {
                let local = study.localCopy ? try node.store.study(uid: study.studyInstanceUID) : nil
                results.append(studyObject(federated: study, nhs: nhs.digits, local: local, base: base))
            }
        } else {
            // A listing that names no patient, study or accession is the operator's alone.
            if query.studyUIDs.isEmpty, query.accessionNumber == nil, Caller.current?.may(.listAll) != true {
                try node.audit(
                    "accessRefused", actor: actor, subject: [:],
                    details: "DICOMweb listing without a patient: " + (request.uri.query ?? ""))
                throw DICOMwebError(
                    status: 403,
                    message: "listing studies without naming a patient (PatientID), study or accession is for "
                        + "the operator only")
            }
            var filter = StudyFilter()
            filter.studyUIDs = query.studyUIDs
            filter.dateFrom = query.studyDateFrom
            filter.dateTo = query.studyDateTo
            filter.accessionNumber = query.accessionNumber
            var listed: [StudySummary] = []
            for study in try node.store.studies(matching: filter)
            where query.matchesStudy(
                nhsNumber: study.nhsNumber, studyUID: study.studyInstanceUID, studyDate: study.studyDate,
                modalities: study.modalities, accession: study.accessionNumber)
            {
                if try !node.isServable(study) { continue }
                listed.append(study)
            }
            // Audited before the answer leaves. A search naming studies or an accession discloses
            // those patients' studies: one `query` entry per study in the answer (at most the
            // answer's limit). The operator's open listing is one entry saying what was asked and
            // how many studies were listed.
            let details = "DICOMweb studies held here: " + (request.uri.query ?? "")
            let shown = listed.dropFirst(query.offset).prefix(query.limit ?? QIDOQuery.maximumLimit)
            if (query.studyUIDs.isEmpty && query.accessionNumber == nil) || shown.isEmpty {
                try node.audit(.query, actor: actor, subject: [:], details: details + " (\(shown.count) listed)")
            } else {
                for study in shown {
                    try node.audit(.query, actor: actor, subject: LocalNode.auditSubject(study), details: details)
                }
            }
            results = listed.map { studyObject(local: $0, base: base) }
        }
        logger.info("DICOMweb study search", metadata: ["results": "\(results.count)"])
        return Self.dicomJSON(page(results, query), warnings: warnings(query))
    }

    /// A study held here (PS3.18 Table 10.6.3-3 attributes, as far as the catalogue knows them).
    func studyObject(local study: StudySummary, base: String) -> DICOMJSONObject {
        var object = DICOMJSONObject()
        object.set(0x0008_0005, .cs, "ISO_IR 192")
        object.set(0x0020_000D, .ui, study.studyInstanceUID)
        object.set(0x0008_0020, .da, study.studyDate)
        object.set(0x0008_0030, .tm, study.studyTime)
        object.set(0x0008_0050, .sh, study.accessionNumber)
        object.set(0x0008_0061, .cs, study.modalities)
        object.set(0x0008_1030, .lo, study.description)
        object.set(0x0010_0010, .pn, study.patientName)
        object.set(0x0010_0020, .lo, study.nhsNumber)
        object.set(0x0020_1206, .is, integer: study.seriesCount)
        object.set(0x0020_1208, .is, integer: study.instanceCount)
        object.set(0x0008_0056, .cs, "ONLINE")
        object.set(0x0008_0054, .ae, node.configuration.trust.code)
        object.set(0x0008_1190, .ur, base + "/studies/" + study.studyInstanceUID)
        return object
    }

    /// A study from the federated index. Held here: as ``studyObject(local:base:)``. Held elsewhere:
    /// RetrieveAETitle (0008,0054) is the holding trust's ODS code, InstanceAvailability NEARLINE
    /// (a care-gated fetch brings it here), and there is no RetrieveURL.
    func studyObject(
        federated study: FederatedQueryResult.Study, nhs: String, local: StudySummary?, base: String
    ) -> DICOMJSONObject {
        var object: DICOMJSONObject
        if let local {
            object = studyObject(local: local, base: base)
        } else {
            object = DICOMJSONObject()
            object.set(0x0008_0005, .cs, "ISO_IR 192")
            object.set(0x0020_000D, .ui, study.studyInstanceUID)
            object.set(0x0008_0020, .da, study.studyDate)
            object.set(0x0008_0050, .sh, study.accessionNumber)
            object.set(0x0008_0061, .cs, study.modalities)
            object.set(0x0008_1030, .lo, study.description)
            object.set(0x0010_0020, .lo, nhs)
            object.set(0x0020_1206, .is, integer: study.seriesCount)
            object.set(0x0020_1208, .is, integer: study.instanceCount)
            object.set(0x0008_0056, .cs, "NEARLINE")
            object.set(0x0008_0054, .ae, study.holder)
        }
        return object
    }

    func searchSeries(_ request: Request, study uid: String) throws -> Response {
        try requireJSON(request)
        let query = try QIDOQuery.parse(parameters(request), level: .series)
        let (summary, manifest) = try heldStudy(uid)
        try node.audit(
            .query, actor: actor(request),
            subject: LocalNode.auditSubject(summary))
        let base = base(request)
        var results: [DICOMJSONObject] = []
        if studyMatches(query, summary) {
            for series in manifest.series {
                let a = series.first!.attributes
                if !query.modalities.isEmpty && !query.modalities.contains(a.modality ?? "") { continue }
                if !query.seriesUIDs.isEmpty && !query.seriesUIDs.contains(series.first!.seriesUID) { continue }
                if let number = query.seriesNumber, Int(a.seriesNumber ?? "") != number { continue }
                var object = DICOMJSONObject()
                object.set(0x0008_0005, .cs, "ISO_IR 192")
                object.set(0x0020_000D, .ui, uid)
                object.set(0x0020_000E, .ui, series.first!.seriesUID)
                object.set(0x0008_0060, .cs, a.modality)
                object.set(0x0008_103E, .lo, a.seriesDescription)
                object.set(0x0020_0011, .is, a.seriesNumber)
                object.set(0x0018_0015, .cs, a.bodyPartExamined)
                object.set(0x0020_1209, .is, integer: series.count)
                object.set(0x0008_0056, .cs, "ONLINE")
                object.set(0x0008_1190, .ur, base + "/studies/\(uid)/series/\(series.first!.seriesUID)")
                results.append(object)
            }
        }
        return Self.dicomJSON(page(results, query), warnings: warnings(query))
    }

    func searchInstances(_ request: Request, study uid: String, series: String?) throws -> Response {
        try requireJSON(request)
        var query = try QIDOQuery.parse(parameters(request), level: .instance)
        // The path's series narrows any SeriesInstanceUID key: a key naming only other series matches nothing.
        var excluded = false
        if let series {
            excluded = !query.seriesUIDs.isEmpty && !query.seriesUIDs.contains(series)
            query.seriesUIDs = [series]
        }
        let (summary, manifest) = try heldStudy(uid)
        try node.audit(
            .query, actor: actor(request),
            subject: LocalNode.auditSubject(summary, series: series))
        let base = base(request)
        var results: [DICOMJSONObject] = []
        if !excluded && studyMatches(query, summary) {
            for instance in manifest.instances {
                let a = instance.attributes
                if !query.seriesUIDs.isEmpty && !query.seriesUIDs.contains(instance.seriesUID) { continue }
                if !query.modalities.isEmpty && !query.modalities.contains(a.modality ?? "") { continue }
                if let number = query.seriesNumber, Int(a.seriesNumber ?? "") != number { continue }
                if !query.sopInstanceUIDs.isEmpty && !query.sopInstanceUIDs.contains(instance.sopInstanceUID) {
                    continue
                }
                if !query.sopClassUIDs.isEmpty && !query.sopClassUIDs.contains(a.sopClassUID ?? "") { continue }
                if let number = query.instanceNumber, Int(a.instanceNumber ?? "") != number { continue }
                var object = DICOMJSONObject()
                object.set(0x0008_0005, .cs, "ISO_IR 192")
                object.set(0x0020_000D, .ui, uid)
                object.set(0x0020_000E, .ui, instance.seriesUID)
                object.set(0x0008_0060, .cs, a.modality)
                object.set(0x0020_0011, .is, a.seriesNumber)
                object.set(0x0008_0016, .ui, a.sopClassUID)
                object.set(0x0008_0018, .ui, instance.sopInstanceUID)
                object.set(0x0020_0013, .is, a.instanceNumber)
                object.set(0x0028_0008, .is, a.numberOfFrames)
                object.set(0x0008_3002, .ui, instance.transferSyntaxUID)
                object.set(0x0008_0056, .cs, "ONLINE")
                object.set(
                    0x0008_1190, .ur,
                    base + "/studies/\(uid)/series/\(instance.seriesUID)/instances/\(instance.sopInstanceUID)")
                results.append(object)
            }
        }
        return Self.dicomJSON(page(results, query), warnings: warnings(query))
    }

    func studyMatches(_ query: QIDOQuery, _ summary: StudySummary) -> Bool {
        query.matchesStudy(
            nhsNumber: summary.nhsNumber, studyUID: summary.studyInstanceUID, studyDate: summary.studyDate,
            modalities: summary.modalities, accession: summary.accessionNumber)
    }
}
