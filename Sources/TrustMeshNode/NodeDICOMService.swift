import Foundation
import Logging
import ServiceLifecycle
import TrustMeshCompression
import TrustMeshDICOM
import TrustMeshDIMSE
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

/// The node behind its DICOM listener: C-STORE goes through the same ingest as `trustmesh ingest`
/// (validation, dedup, audit, index publishing), C-FIND is answered from the federated index and
/// audited like the local API's query, C-MOVE sends studies held here, audited like a WADO-RS
/// retrieve.
///
/// A C-STORE is checked by every rule the ingest applies (readable DICOM, valid UIDs, identity
/// against what is held and what is waiting to be catalogued, room on the disk) and answered
/// Success once its file is durable in the ``DICOMSpool``; the spool's worker catalogues it
/// afterwards. An instance whose SOP Instance UID is already held is answered with the ingest's
/// own outcome (only its bytes tell "unchanged" from "other bytes").
///
/// Index records are published when the association ends and its instances are catalogued, once
/// per study, not once per instance: a PACS sending a 300-slice study over one association
/// publishes one record, exactly as one `trustmesh ingest` of the study's folder does.
final class NodeDICOMService: DIMSEServiceProvider {
    let node: LocalNode
    /// The network now (membership changes while the node runs).
    var topology: Topology { currentTopology() }
    private let currentTopology: @Sendable () -> Topology
    let logger: Logger
    /// This node's own AE title: the Retrieve AE Title of the studies it holds.
    let aeTitle: String
    /// Where C-STOREs are made durable before they are answered, and catalogued after.
    let spool: DICOMSpool

    /// Calling AE titles that may query (C-FIND) and retrieve (C-MOVE); empty: nobody (the
    /// listener then stores and echoes only). A DICOM peer cannot sign in, so an AE title named by
    /// the operator is the system this is decided for.
    let queryRetrieveAETitles: Set<String>

    init(
        node: LocalNode, topology: @escaping @Sendable () -> Topology, aeTitle: String,
        queryRetrieveAETitles: Set<String>, logger: Logger
    ) {
        self.node = node
        self.aeTitle = aeTitle
        self.currentTopology = topology
        self.queryRetrieveAETitles = queryRetrieveAETitles
        self.logger = logger
        spool = DICOMSpool(node: node, logger: logger)
    }

    /// Refuses (0124H, "Refused: Not Authorized", PS3.7 C.4) and audits a C-FIND or C-MOVE from an
    /// AE title not allowed to query and retrieve; nil when it is allowed.
    func unauthorized(_ association: DIMSEAssociation, _ service: String) -> DIMSEStatus? {
        guard !queryRetrieveAETitles.contains(association.callingAETitle) else { return nil }
        let reason =
            queryRetrieveAETitles.isEmpty
            ? "this node answers no C-FIND or C-MOVE (node run --query-retrieve-ae names who may)"
            : "calling AE title \(association.callingAETitle) may not query or retrieve here"
        try? node.audit(
            "accessRefused", actor: Self.actor(association), details: "\(service): \(reason)")
        logger.notice("DICOM \(service) refused", metadata: ["calling": "\(association.callingAETitle)"])
        return DIMSEStatus(code: 0x0124, comment: reason)
    }

    /// Instances are received into the spool's folder, so that answering one renames it there.
    var incomingDirectory: String { spool.directory }

    /// Each received file becomes a spool file (or is removed when refused).
    var takesIncomingFiles: Bool { true }

    /// The AE title a trust's node answers to unless told otherwise: `TM_` and the ODS code.
    static func defaultAETitle(_ trust: TrustID) -> String { "TM_" + trust.code }

    /// The system a DICOM peer is in the audit log: `DICOM <calling AE> at <host:port>`.
    static func actor(_ association: DIMSEAssociation) -> Actor {
        .system("DICOM \(association.callingAETitle) at \(association.peer)")
    }

    // MARK: C-STORE

    func store(_ request: DIMSEStoreRequest) async -> DIMSEStatus {
        var kept = false
        defer { if !kept { unlink(request.path) } }
        let checked: CheckedInstance
        do {
            checked = try StudyStore.check(path: request.path)
        } catch {
            // The command names the instance; a data set that names another is not what was announced.
            if let info = try? DICOMReader.read(path: request.path), let uid = info.attributes.sopInstanceUID,
                uid != request.sopInstanceUID
            {
                return Self.sopMismatch
            }
            return refusal(error, request)
        }
        guard checked.sopInstanceUID == request.sopInstanceUID else { return Self.sopMismatch }
        // Against what is waiting to be catalogued first (reserving its place), then the catalogue:
        // an instance leaves the spool's count only once committed, so nothing is missed between.
        var entry: DICOMSpool.Entry
        switch spool.reserve(request.association, checked: checked, path: request.path, bytes: checked.info.fileSize) {
        case .refused(let error): return refusal(error, request)
        case .reserved(let reserved): entry = reserved
        }
        if !entry.awaited {
            // What the catalogue holds, by the rules (and texts) of its commit.
            do {
                switch StudyStore.admission(
                    checked, path: request.path, held: [try node.store.heldIdentity(of: checked)])
                {
                case .refused(let error):
                    spool.cancel(entry)
                    return refusal(error, request)
                case .held: entry.awaited = true
                case .new: break
                }
            } catch {
                spool.cancel(entry)
                return nodeFailed(request, error)
            }
        }
        // Room for this instance and every one waiting for the catalogue: their chunks (at most
        // their size) and the catalogue's growth must fit once they are answered.
        var disk = statvfs()
        if statvfs(spool.directory, &disk) == 0 {
            let free = Int(disk.f_bavail) * Int(disk.f_frsize)
            let needed = spool.pendingBytes + DICOMSpool.reserveBytes
            if free < needed {
                spool.cancel(entry)
                return nodeFailed(
                    request,
                    SpoolError(
                        "the disk is full: \(free) bytes free, \(needed) needed to catalogue the instances received",
                        ENOSPC))
            }
        }
        do {
            try spool.commit(entry, incoming: request.path)
        } catch {
            spool.cancel(entry)
            return nodeFailed(request, error)
        }
        kept = true
        return entry.awaited ? await spool.outcome(of: entry) : .success
    }

    private static let sopMismatch = DIMSEStatus.doesNotMatchSOPClass(
        "the data set's SOP Instance UID differs from the command's")

    /// The status of an instance the ingest's rules refuse: 0xA900 for an identity conflict (a UID
    /// held in another study, other bytes under a held one), else 0xC000; the rule first (the peer
    /// sees 64 characters of the comment; the audit entry has all of it). The store names the
    /// file; the peer only needs the rule, without the node's paths.
    private func refusal(_ error: StoreError, _ request: DIMSEStoreRequest) -> DIMSEStatus {
        let reason = error.description.replacingOccurrences(of: request.path + ": ", with: "")
            .replacingOccurrences(of: request.path, with: "the instance")
        logger.warning(
            "C-STORE refused by ingest",
            metadata: ["sopInstanceUID": "\(request.sopInstanceUID)", "reason": "\(reason)"])
        return error.isIdentityConflict ? .doesNotMatchSOPClass(reason) : .cannotUnderstand(reason)
    }

    /// The node itself failed (disk, catalogue): 0xA700, audited here as `ingestFailed` with the
    /// cause the peer is not told.
    private func nodeFailed(_ request: DIMSEStoreRequest, _ error: any Error) -> DIMSEStatus {
        logger.error("C-STORE ingest failed", metadata: ["error": "\(error)"])
        try? node.audit(
            .ingestFailed, actor: Self.actor(request.association), subject: [.peer: request.association.peer],
            details: "C-STORE of \(request.sopInstanceUID) refused with 0xA700: \(error)")
        return .outOfResources(Self.nodeFailure)
    }

    func associationEnded(_ association: DIMSEAssociation) async { spool.ended(association) }

    /// What the peer is told when the node itself fails to store an instance (0xA700).
    static let nodeFailure = "the node could not store the instance"

    /// Every refusal is audited: C-STORE refusals as `ingestRefused` (as the CLI's and STOW-RS's
    /// are), the rest as `dicomRefused`.
    func refused(_ refusal: DIMSERefusal) async {
        // Audited once, by `store`, as `ingestFailed` with the cause the peer is not told.
        if refusal.operation == "C-STORE", refusal.reason == Self.nodeFailure { return }
        let actor = refusal.association.map(Self.actor) ?? .system("DICOM peer at \(refusal.peer)")
        let kind: AuditEntry.Kind = refusal.operation == "C-STORE" ? .ingestRefused : .dicomRefused
        do {
            if refusal.association == nil {
                // Before an association (ARTIM, rejections, connections over the per-address cap)
                // the peer is only an address: aggregated per address, so idle sockets cannot flood the log.
                let address = refusal.peer.lastIndex(of: ":").map { String(refusal.peer[..<$0]) } ?? refusal.peer
                try node.auditRefusal(
                    kind, source: "DICOM " + address, actor: actor, subject: [.peer: refusal.peer],
                    details: refusal.summary)
            } else {
                try node.audit(kind, actor: actor, subject: [.peer: refusal.peer], details: refusal.summary)
            }
        } catch {
            logger.error("could not audit a DICOM refusal", metadata: ["error": "\(error)"])
        }
    }

    /// Audits and publishes what an association has stored so far, once it is catalogued, before
    /// it queries (so a peer that stores then asks on one association sees what it stored).
    private func publishReceived(_ association: DIMSEAssociation) async {
        await spool.publishCatalogued(association)
    }

    // MARK: C-FIND

    /// 0xA900 ("Identifier does not match SOP Class", PS3.4 §C.4.1.1.4) naming the first UID key of
    /// a C-FIND or C-MOVE identifier whose values are not all valid UIDs (``DICOMUID``); nil when
    /// every one is. A key that is empty or universal (`*`) matches everything and is left alone.
    static func invalidUIDKey(_ value: (Tag) -> String?) -> DIMSEStatus? {
        let keys: [(Tag, String)] = [
            (.studyInstanceUID, "StudyInstanceUID"), (.seriesInstanceUID, "SeriesInstanceUID"),
            (.sopInstanceUID, "SOPInstanceUID"), (.sopClassUID, "SOPClassUID"),
        ]
        for (tag, keyword) in keys {
            guard let text = value(tag), text.trimmingCharacters(in: .whitespaces) != "*" else { continue }
            for uid in DICOMMatching.values(text) {
                do { try DICOMUID.check(uid, attribute: keyword) } catch {
                    return .doesNotMatchSOPClass("\(error)")
                }
            }
        }
        return nil
    }

    func find(_ request: DIMSEFindRequest) async -> DIMSEFindResponse {
        if let refusal = unauthorized(request.association, "C-FIND") {
            return DIMSEFindResponse(matches: [], status: refusal)
        }
        if let invalid = Self.invalidUIDKey(request.value) { return DIMSEFindResponse(matches: [], status: invalid) }
        if request.level == "SERIES" || request.level == "IMAGE" { return await findWithinHeldStudies(request) }
        guard request.level == "PATIENT" || request.level == "STUDY" else {
            return DIMSEFindResponse(
                matches: [],
                status: .cannotUnderstand("the Query/Retrieve Level must be PATIENT, STUDY, SERIES or IMAGE"))
        }
        if request.model == .patientRoot && request.level == "STUDY" && request.value(.patientID) == nil {
            return DIMSEFindResponse(
                matches: [], status: .doesNotMatchSOPClass("Patient Root at STUDY level needs PatientID"))
        }
        await publishReceived(request.association)
        let studies: [(NHSNumber, FederatedQueryResult.Study)]
        do {
            guard let found = try candidates(request) else {
                return DIMSEFindResponse(
                    matches: [],
                    status: .cannotUnderstand(
                        "give PatientID (NHS number) or StudyInstanceUID; open queries are not answered"))
            }
            studies = found.filter { DICOMQueryMatcher.matches($0.1, request) }
        } catch {
            logger.error("C-FIND failed", metadata: ["error": "\(error)"])
            return DIMSEFindResponse(matches: [], status: .outOfResources("the node could not read its index"))
        }
        logQuery(request, matches: studies.count)
        if request.level == "PATIENT" {
            var byPatient: [NHSNumber: [FederatedQueryResult.Study]] = [:]
            for (nhs, study) in studies { byPatient[nhs, default: []].append(study) }
            return DIMSEFindResponse(
                matches: byPatient.sorted { $0.key.digits < $1.key.digits }.map { nhs, studies in
                    [
                        .patientID: nhs.digits,
                        QueryKeys.numberOfPatientRelatedStudies: "\(studies.count)",
                        QueryKeys.numberOfPatientRelatedSeries: "\(studies.reduce(0) { $0 + $1.seriesCount })",
                        QueryKeys.numberOfPatientRelatedInstances: "\(studies.reduce(0) { $0 + $1.instanceCount })",
                    ]
                })
        }
        return DIMSEFindResponse(matches: studies.map { nhs, study in match(nhs, study) })
    }

    /// The studies the query can be about, read through the audited federated query; nil for an
    /// open query (no patient, no study named), which the node declines: every answer must be
    /// about a named patient so that the audit log can say whose imaging was listed.
    private func candidates(_ request: DIMSEFindRequest) throws -> [(NHSNumber, FederatedQueryResult.Study)]? {
        let asker = Self.actor(request.association)
        if let id = request.value(.patientID) {
            guard !id.contains("*"), !id.contains("?"), let nhs = try? NHSNumber(id) else { return [] }
            return try node.query(nhs: nhs, topology: topology, by: asker).studies.map { (nhs, $0) }
        }
        guard request.level == "STUDY", let uids = request.value(.studyInstanceUID), !uids.contains("*") else {
            return nil
        }
        var found: [(NHSNumber, FederatedQueryResult.Study)] = []
        for uid in Set(DICOMMatching.values(uids)) {
            let patients = Set(try node.store.index.latestStudyRecords(studyUID: uid).map(\.nhsNumber))
            for nhs in patients.sorted(by: { $0.digits < $1.digits }) {
                let result = try node.query(nhs: nhs, topology: topology, by: asker)
                found += result.studies.filter { $0.studyInstanceUID == uid }.map { (nhs, $0) }
            }
        }
        return found
    }

    /// SERIES and IMAGE levels (PS3.4 §C.4.1.2.2, hierarchical): answered from the catalogue for
    /// studies held here, named by StudyInstanceUID (and, at IMAGE level, SeriesInstanceUID): only
    /// the holder knows a study's series. Each study's patient is looked up through the audited
    /// federated query, so the query is logged against the patient and an opted-out patient's
    /// study lists nothing. A study held only at another trust has no matches here; its Retrieve AE
    /// Title at STUDY level says where to ask.
    private func findWithinHeldStudies(_ request: DIMSEFindRequest) async -> DIMSEFindResponse {
        func uids(_ tag: Tag) -> Set<String>? { DICOMMatching.uidList(request.value(tag)).map(Set.init) }
        guard let studies = uids(.studyInstanceUID) else {
            return DIMSEFindResponse(
                matches: [],
                status: .cannotUnderstand(
                    "give StudyInstanceUID: \(request.level) queries are answered for named studies"))
        }
        let series = uids(.seriesInstanceUID)
        if request.level == "IMAGE" && series == nil {
            return DIMSEFindResponse(
                matches: [],
                status: .cannotUnderstand("give SeriesInstanceUID: IMAGE queries are answered for named series"))
        }
        if request.model == .patientRoot && request.value(.patientID) == nil {
            return DIMSEFindResponse(
                matches: [], status: .doesNotMatchSOPClass("Patient Root at \(request.level) level needs PatientID"))
        }
        await publishReceived(request.association)
        var matches: [[Tag: String]] = []
        do {
            for uid in studies.sorted() {
                guard let summary = try node.store.study(uid: uid), let digits = summary.nhsNumber,
                    let nhs = try? NHSNumber(digits), request.value(.patientID).map({ $0 == digits }) ?? true
                else { continue }
                let listed = try node.query(nhs: nhs, topology: topology, by: Self.actor(request.association))
                guard listed.studies.contains(where: { $0.studyInstanceUID == uid && $0.localCopy }),
                    let manifest = try node.store.transferManifest(studyUID: uid)
                else { continue }
                let common: [Tag: String] = [
                    .patientID: digits, .studyInstanceUID: uid, QueryKeys.retrieveAETitle: aeTitle,
                    QueryKeys.instanceAvailability: "ONLINE",
                ]
                for group in manifest.series {
                    let first = group[0]
                    guard series?.contains(first.seriesUID) ?? true,
                        DICOMQueryMatcher.matchesSeries(first.attributes, request)
                    else { continue }
                    var values = common.merging(Self.seriesValues(first, count: group.count)) { a, _ in a }
                    if request.level == "SERIES" {
                        matches.append(values)
                        continue
                    }
                    for instance in group where DICOMQueryMatcher.matchesInstance(instance, request) {
                        values[.sopInstanceUID] = instance.sopInstanceUID
                        values[.sopClassUID] = instance.attributes.sopClassUID
                        values[.instanceNumber] = instance.attributes.instanceNumber
                        values[.numberOfFrames] = instance.attributes.numberOfFrames
                        matches.append(values)
                    }
                }
            }
        } catch {
            logger.error("C-FIND failed", metadata: ["error": "\(error)"])
            return DIMSEFindResponse(matches: [], status: .outOfResources("the node could not read its catalogue"))
        }
        logQuery(request, matches: matches.count)
        return DIMSEFindResponse(matches: matches)
    }

    private func logQuery(_ request: DIMSEFindRequest, matches: Int) {
        logger.info(
            "DICOM query",
            metadata: [
                "calling": "\(request.association.callingAETitle)", "level": "\(request.level)",
                "matches": "\(matches)",
            ])
    }

    private static func seriesValues(_ instance: TransferManifest.Instance, count: Int) -> [Tag: String] {
        let a = instance.attributes
        var values: [Tag: String] = [
            .seriesInstanceUID: instance.seriesUID, QueryKeys.numberOfSeriesRelatedInstances: "\(count)",
        ]
        values[.modality] = a.modality
        values[.seriesNumber] = a.seriesNumber
        values[.seriesDescription] = a.seriesDescription
        values[.bodyPartExamined] = a.bodyPartExamined
        return values
    }

    private func match(_ nhs: NHSNumber, _ study: FederatedQueryResult.Study) -> [Tag: String] {
        var values: [Tag: String] = [
            .patientID: nhs.digits,
            .studyInstanceUID: study.studyInstanceUID,
            QueryKeys.modalitiesInStudy: study.modalities.joined(separator: "\\"),
            QueryKeys.numberOfStudyRelatedSeries: "\(study.seriesCount)",
            QueryKeys.numberOfStudyRelatedInstances: "\(study.instanceCount)",
            // Where the study is: the holding trust's node (its default AE title) and name.
            QueryKeys.retrieveAETitle: study.holder == node.configuration.trust.code
                ? aeTitle : Self.defaultAETitle((try? TrustID(study.holder)) ?? node.configuration.trust),
            .institutionName: "\(study.holderName ?? study.holder) (\(study.holder))",
            QueryKeys.instanceAvailability: study.localCopy ? "ONLINE" : "NEARLINE",
        ]
        if let date = study.studyDate { values[.studyDate] = date }
        if let description = study.description { values[.studyDescription] = description }
        if let accession = study.accessionNumber { values[.accessionNumber] = accession }
        return values
    }

    // MARK: C-MOVE

    /// Which instances a C-MOVE sends: those of the studies (or series) named that are held here and
    /// not hidden by an opt-out, each study audited as a `retrieve` before a byte leaves. A study
    /// the index places only at another trust is not moved: the answer says where it is (0xC001
    /// when nothing asked for is here; a warning, 0xB000, when some of it is).
    func move(_ request: DIMSEMoveRequest) async -> DIMSEMovePlan {
        if let refusal = unauthorized(request.association, "C-MOVE") { return .refused(refusal) }
        if let invalid = Self.invalidUIDKey(request.value) { return .refused(invalid) }
        guard request.level == "STUDY" || request.level == "SERIES" else {
            return .refused(.cannotUnderstand("only STUDY and SERIES levels are moved"))
        }
        func uids(_ tag: Tag) -> [String]? { DICOMMatching.uidList(request.value(tag)) }
        guard let studies = uids(.studyInstanceUID) else {
            return .refused(.cannotUnderstand("give StudyInstanceUID (one, or a list)"))
        }
        var series: Set<String>?
        if request.level == "SERIES" {
            guard studies.count == 1, let list = uids(.seriesInstanceUID) else {
                return .refused(.cannotUnderstand("SERIES level needs one StudyInstanceUID and SeriesInstanceUID"))
            }
            series = Set(list)
        }
        await publishReceived(request.association)
        let actor = Self.actor(request.association)
        let destination = request.destination
        let details = "C-MOVE to \(destination.aeTitle) at \(destination.host):\(destination.port)"
        var instances: [DIMSEOutgoingInstance] = []
        var elsewhere: [(study: String, holders: [String])] = []
        do {
            for uid in studies {
                if let (summary, manifest) = try node.servableStudy(uid),
                    request.value(.patientID).map({ $0 == summary.nhsNumber }) ?? true
                {
                    let chosen = manifest.instances.filter { series?.contains($0.seriesUID) ?? true }
                    guard !chosen.isEmpty else { continue }
                    // Audited before a byte leaves: a move that cannot be logged does not happen.
                    try node.auditRetrieve(
                        summary, chosen: chosen, series: series?.count == 1 ? series?.first : nil, actor: actor,
                        details: details)
                    instances += chosen.map(outgoing)
                    continue
                }
                let holders = try node.store.index.latestStudyRecords(studyUID: uid).filter {
                    $0.origin != node.configuration.trust && !((try? node.isOptedOut($0.nhsNumber)) ?? false)
                }.map(\.origin.code)
                if !holders.isEmpty { elsewhere.append((uid, Array(Set(holders)).sorted())) }
            }
        } catch {
            logger.error("C-MOVE failed", metadata: ["error": "\(error)"])
            return .refused(.unableToPerformSubOperations("the node could not read or audit the study"))
        }
        logger.info(
            "DICOM move",
            metadata: [
                "calling": "\(request.association.callingAETitle)", "destination": "\(destination.aeTitle)",
                "instances": "\(instances.count)", "heldElsewhere": "\(elsewhere.map(\.study))",
            ])
        guard let first = elsewhere.first else { return DIMSEMovePlan(instances: instances) }
        let trusts = Array(Set(elsewhere.flatMap(\.holders))).sorted().joined(separator: ", ")
        for (study, holders) in elsewhere {
            logger.warning(
                "C-MOVE: study held at another trust, not moved",
                metadata: ["studyUID": "\(study)", "holders": "\(holders.joined(separator: ","))"])
        }
        if instances.isEmpty {
            // Error Comment is 64 characters at most (PS3.7 §C.4.2.1.5 leaves its text to the SCP).
            let long = "study \(first.study) is held at \(trusts); fetch it with trustmesh fetch first"
            let comment = long.count <= 64 ? long : "study held at \(trusts), not here; trustmesh fetch it first"
            return .refused(DIMSEStatus(code: 0xC001, comment: comment))
        }
        return DIMSEMovePlan(
            instances: instances,
            status: .subOperationsWarning("\(elsewhere.count) held at \(trusts), not here; trustmesh fetch first"))
    }

    /// An instance as the listener sends it: its data set read chunk by chunk from the store (one
    /// chunk in memory at a time), the File Meta Information left out.
    private func outgoing(_ instance: TransferManifest.Instance) -> DIMSEOutgoingInstance {
        let store = node.store
        return DIMSEOutgoingInstance(
            sopClassUID: instance.attributes.sopClassUID ?? "", sopInstanceUID: instance.sopInstanceUID,
            transferSyntaxUID: instance.transferSyntaxUID
        ) { write in
            let decompressor = ZstdDecompressor()
            var head = ChunkedInstanceSource(store: store, chunks: instance.chunks, decompressor: decompressor)
            var skip = try DICOMReader.dataSetOffset(source: &head)
            for chunk in instance.chunks {
                let plain = try store.readChunk(chunk.hash, size: chunk.size, decompressor: decompressor)
                guard skip < plain.count else {
                    skip -= plain.count
                    continue
                }
                try await write(plain[skip...])
                skip = 0
            }
        }
    }
}

/// PS3.4 §C.2.2.2 matching of the keys the index holds: single values, date ranges, lists of
/// UIDs, and `*`/`?` wildcards for text.
enum DICOMQueryMatcher {
    static func matches(_ study: FederatedQueryResult.Study, _ request: DIMSEFindRequest) -> Bool {
        if let uids = request.value(.studyInstanceUID), !uids.contains("*") {
            guard DICOMMatching.values(uids).contains(study.studyInstanceUID) else { return false }
        }
        if let range = request.value(.studyDate) {
            guard let date = study.studyDate, DICOMMatching.date(date, inRange: range) else { return false }
        }
        if let wanted = request.value(QueryKeys.modalitiesInStudy) {
            let set = Set(DICOMMatching.values(wanted))
            guard study.modalities.contains(where: set.contains) else { return false }
        }
        if let accession = request.value(.accessionNumber) {
            guard let value = study.accessionNumber, DICOMMatching.wildcard(accession, matches: value) else {
                return false
            }
        }
        if let description = request.value(.studyDescription) {
            guard let value = study.description, DICOMMatching.wildcard(description, matches: value) else {
                return false
            }
        }
        return true
    }

    /// Series-level keys: Modality (one value or a list), Series Number (single value), Series
    /// Description (wildcards).
    static func matchesSeries(_ a: DICOMAttributes, _ request: DIMSEFindRequest) -> Bool {
        if let wanted = request.value(.modality) {
            let set = Set(DICOMMatching.values(wanted))
            guard set.contains(a.modality ?? "") else { return false }
        }
        if let number = request.value(.seriesNumber) {
            guard Int(number.trimmingCharacters(in: .whitespaces)) == Int(a.seriesNumber ?? "") else { return false }
        }
        if let description = request.value(.seriesDescription) {
            guard let value = a.seriesDescription, DICOMMatching.wildcard(description, matches: value) else {
                return false
            }
        }
        return true
    }

    /// Instance-level keys: SOP Instance UID and SOP Class UID (one value or a list), Instance
    /// Number (single value).
    static func matchesInstance(_ instance: TransferManifest.Instance, _ request: DIMSEFindRequest) -> Bool {
        func listed(_ tag: Tag, _ value: String?) -> Bool {
            guard let wanted = request.value(tag) else { return true }
            return DICOMMatching.values(wanted).contains(value ?? "")
        }
        guard listed(.sopInstanceUID, instance.sopInstanceUID), listed(.sopClassUID, instance.attributes.sopClassUID)
        else { return false }
        if let number = request.value(.instanceNumber) {
            guard Int(number.trimmingCharacters(in: .whitespaces)) == Int(instance.attributes.instanceNumber ?? "")
            else { return false }
        }
        return true
    }
}

/// Runs the DICOM listener in the node's service group, and beside it the spool's worker: what a
/// previous run left in the spool is taken up first; on graceful shutdown the listener stops, then
/// the worker catalogues what was answered and stops.
struct DICOMListenerService: Service {
    let server: DIMSEServer
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let spool = (server.provider as? NodeDICOMService)?.spool
        try spool?.recover()
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let spool { group.addTask { await spool.run() } }
            do {
                try await cancelWhenGracefulShutdown {
                    try await server.run(onListening: onListening)
                }
            } catch {
                spool?.finish()
                throw error
            }
            spool?.finish()
            try await group.waitForAll()
        }
    }
}
