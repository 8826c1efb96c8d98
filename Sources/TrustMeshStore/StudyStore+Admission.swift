import GRDB
package import TrustMeshDICOM
package import TrustMeshModel

/// An instance parsed and checked by the rules ingest applies to a file before it stores any of its
/// bytes: readable DICOM, Study, Series and SOP Instance UIDs present and valid (PS3.5 §9.1).
package struct CheckedInstance: Sendable {
    /// The reader's view of the file (attributes, transfer syntax, size).
    package var info: DICOMFileInfo
    /// Study Instance UID, present and valid.
    package var studyUID: String
    /// Series Instance UID, present and valid.
    package var seriesUID: String
    /// SOP Instance UID, present and valid.
    package var sopInstanceUID: String
    /// The patient's NHS number, or nil when the instance names none (an unmatched study).
    package var nhsNumber: NHSNumber?
}

/// What this node already holds under an instance's UIDs: the facts ingest's identity rules are
/// decided on (``IdentityRule``). Gathered from the catalogue by ``StudyStore/heldIdentity(of:)``,
/// or by a caller from instances it has accepted but not yet committed.
package struct HeldIdentity: Sendable {
    /// The study that holds the instance's SOP Instance UID, if it is held.
    package var instanceStudy: String?
    /// The study that holds the instance's series, if it is held.
    package var seriesStudy: String?
    /// Whether the instance's study is held, and under which NHS number (nil: unmatched).
    package var studyHeld = false
    /// The held study's NHS number (nil: unmatched, or not held).
    package var studyNHSNumber: String?
    /// The rejection note that rejected the instance here, and its code (nil: none did).
    package var rejectedBy: (noteUID: String, code: String)?

    /// Facts as gathered; nothing held by default.
    package init(
        instanceStudy: String? = nil, seriesStudy: String? = nil, studyHeld: Bool = false,
        studyNHSNumber: String? = nil, rejectedBy: (noteUID: String, code: String)? = nil
    ) {
        self.instanceStudy = instanceStudy
        self.seriesStudy = seriesStudy
        self.studyHeld = studyHeld
        self.studyNHSNumber = studyNHSNumber
        self.rejectedBy = rejectedBy
    }
}

/// What ingest will do with an instance, decided before any of its bytes are stored.
package enum Admission: Sendable {
    /// Nothing held contradicts it and its SOP Instance UID is not held: ingest adds it.
    case new
    /// Its SOP Instance UID is held in its own study: only its bytes (its manifest) tell whether
    /// ingest leaves it unchanged or refuses it, so only an ingest can answer.
    case held
    /// Ingest would refuse it, for this reason (the same error the commit gives).
    case refused(StoreError)
}

/// The identity rules of ingest, in the order the catalogue's commit applies them, with the commit's
/// own texts, for ``StudyStore/admission(_:path:held:)``: a refusal made before an instance is stored
/// reads exactly as one made when it is committed (StudyAdmissionTests holds the two equal).
enum IdentityRule {
    /// SOP Instance UIDs are unique worldwide (PS3.5 §9.1): one held in another study is a forgery
    /// or an error, never re-filed.
    static func instanceInAnotherStudy(_ sopInstanceUID: String) -> String {
        "an instance is never re-filed: SOPInstanceUID \(sopInstanceUID) is held in another study"
    }

    /// An instance a rejection note removed is not stored again, whoever resends it
    /// (StudyStore+Rejection.swift).
    static func rejected(_ sopInstanceUID: String, noteUID: String, code: String) -> String {
        "SOPInstanceUID \(sopInstanceUID) was rejected by note \(noteUID) (code \(code)) and is not stored again"
    }

    static func otherBytes(_ sopInstanceUID: String) -> String {
        "held bytes are not replaced: SOPInstanceUID \(sopInstanceUID) is held with other "
            + "content; only the trust's operator may correct it (trustmesh ingest, or STOW-RS as an operator)"
    }

    static func seriesInAnotherStudy(_ seriesUID: String) -> String {
        "a series is never re-filed: SeriesInstanceUID \(seriesUID) is held in another study"
    }

    /// Merging two patients' images is a clinical safety hazard: an instance whose NHS number
    /// differs from its held study's is refused (only the last four digits are named).
    static func patientMismatch(study: String, path: String, held: String?, offered: String?) -> StoreError {
        let theirs = held.map { "NHS number ending \($0.suffix(4))" } ?? "no NHS number"
        let mine = offered.map { "NHS number ending \($0.suffix(4))" } ?? "no NHS number"
        return .patientMismatch(study: study, reason: "\(path) has \(mine) but the study already held has \(theirs)")
    }
}

extension StudyStore {
    /// Parses `path` and applies ingest's per-file rules (the same checks and errors as
    /// ``ingest(paths:workers:batchSize:mayCorrect:progress:)``), storing nothing.
    /// - Throws: ``StoreError`` for a file that is not readable DICOM, lacks a Study, Series or SOP
    ///   Instance UID, or has an invalid UID.
    package static func check(path: String) throws(StoreError) -> CheckedInstance {
        let info: DICOMFileInfo
        do {
            info = try DICOMReader.read(path: path)
        } catch {
            throw StoreError.notDICOM(path: path, reason: error.description)
        }
        let (study, series, sop) = try identity(of: info.attributes, name: path)
        return CheckedInstance(
            info: info, studyUID: study, seriesUID: series, sopInstanceUID: sop,
            nhsNumber: PatientMatching.nhsNumber(for: info.attributes))
    }

    /// An instance's Study, Series and SOP Instance UIDs, present and valid: ingest's rule at every
    /// door (CLI, STOW-RS, C-STORE), checked before a byte is stored, since they name the
    /// catalogue's rows and the folders and files an export writes.
    /// - Parameter name: the file or part named in an error.
    /// - Throws: ``StoreError/missingAttribute(path:keyword:)`` or ``StoreError/invalidUID(path:_:)``
    ///   (a SOP Class UID, when present, must be valid too).
    package static func identity(
        of a: DICOMAttributes, name: String
    ) throws(StoreError) -> (study: String, series: String, sop: String) {
        guard let study = a.studyInstanceUID, !study.isEmpty else {
            throw StoreError.missingAttribute(path: name, keyword: "StudyInstanceUID")
        }
        guard let series = a.seriesInstanceUID, !series.isEmpty else {
            throw StoreError.missingAttribute(path: name, keyword: "SeriesInstanceUID")
        }
        guard let sop = a.sopInstanceUID, !sop.isEmpty else {
            throw StoreError.missingAttribute(path: name, keyword: "SOPInstanceUID")
        }
        do {
            try DICOMUID.check(study, attribute: "StudyInstanceUID")
            try DICOMUID.check(series, attribute: "SeriesInstanceUID")
            try DICOMUID.check(sop, attribute: "SOPInstanceUID")
            if let sopClass = a.sopClassUID { try DICOMUID.check(sopClass, attribute: "SOPClassUID") }
        } catch {
            throw StoreError.invalidUID(path: name, error)
        }
        return (study, series, sop)
    }

    /// What the catalogue holds under an instance's UIDs (one read transaction; no lock is held
    /// afterwards, so a commit made meanwhile by another door is decided again by that commit).
    /// - Throws: if the catalogue cannot be read.
    package func heldIdentity(of instance: CheckedInstance) throws -> HeldIdentity {
        try catalogue.pool.read { db in
            var held = HeldIdentity()
            held.instanceStudy = try String.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT s.studyUID FROM instance i JOIN series s ON s.seriesUID = i.seriesUID
                        WHERE i.sopInstanceUID = ?
                        """),
                arguments: [instance.sopInstanceUID])
            held.seriesStudy = try String.fetchOne(
                db.cachedStatement(sql: "SELECT studyUID FROM series WHERE seriesUID = ?"),
                arguments: [instance.seriesUID])
            if let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT nhsNumber FROM study WHERE studyUID = ?"),
                arguments: [instance.studyUID])
            {
                held.studyHeld = true
                held.studyNHSNumber = row["nhsNumber"]
            }
            if let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT noteUID, code FROM rejectedInstance WHERE sopInstanceUID = ?"),
                arguments: [instance.sopInstanceUID])
            {
                held.rejectedBy = (row["noteUID"], row["code"])
            }
            return held
        }
    }

    /// Decides, by the commit's rules and in its order, what ingest will do with `instance` given
    /// what is held under its UIDs (``heldIdentity(of:)``, and anything the caller has accepted but
    /// not yet committed). Ingest without corrections (`mayCorrect: false`).
    /// - Parameter path: the file's name, as the refusal's text names it.
    package static func admission(_ instance: CheckedInstance, path: String, held: [HeldIdentity]) -> Admission {
        let study = instance.studyUID
        for facts in held {
            guard let (noteUID, code) = facts.rejectedBy else { continue }
            return .refused(
                .identityConflict(
                    path: path, reason: IdentityRule.rejected(instance.sopInstanceUID, noteUID: noteUID, code: code)))
        }
        for facts in held {
            guard let holder = facts.instanceStudy else { continue }
            guard holder == study else {
                return .refused(
                    .identityConflict(path: path, reason: IdentityRule.instanceInAnotherStudy(instance.sopInstanceUID)))
            }
            return .held
        }
        for facts in held {
            if let holder = facts.seriesStudy, holder != study {
                return .refused(
                    .identityConflict(path: path, reason: IdentityRule.seriesInAnotherStudy(instance.seriesUID)))
            }
        }
        for facts in held where facts.studyHeld && facts.studyNHSNumber != instance.nhsNumber?.digits {
            return .refused(
                IdentityRule.patientMismatch(
                    study: study, path: path, held: facts.studyNHSNumber, offered: instance.nhsNumber?.digits))
        }
        return .new
    }
}
