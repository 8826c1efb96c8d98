import TrustMeshDICOM
package import TrustMeshModel

/// Why a DICOMweb request was refused: an HTTP status and a message for the client. The routes
/// map it to a response in one place (``DICOMwebRoutes``).
package struct DICOMwebError: Error, Sendable, Equatable, CustomStringConvertible {
    package var status: Int
    package var message: String

    package static func badRequest(_ message: String) -> Self { Self(status: 400, message: message) }
    package static func notFound(_ message: String) -> Self { Self(status: 404, message: message) }
    package static func notAcceptable(_ message: String) -> Self { Self(status: 406, message: message) }
    package static func unsupportedMediaType(_ message: String) -> Self { Self(status: 415, message: message) }

    package var description: String { "\(status): \(message)" }
}

/// The attributes the DICOMweb routes know by keyword: what a query may name (to match, or in
/// `includefield`) and what results carry. Tags are `group << 16 | element`; VRs from PS3.6.
package enum DICOMKeyword {
    package struct Entry: Sendable {
        package var tag: UInt32
        package var vr: DICOMJSONObject.VR
    }

    package static let table: [String: Entry] = [
        "SpecificCharacterSet": .init(tag: 0x0008_0005, vr: .cs),
        "SOPClassUID": .init(tag: 0x0008_0016, vr: .ui),
        "SOPInstanceUID": .init(tag: 0x0008_0018, vr: .ui),
        "StudyDate": .init(tag: 0x0008_0020, vr: .da),
        "StudyTime": .init(tag: 0x0008_0030, vr: .tm),
        "AccessionNumber": .init(tag: 0x0008_0050, vr: .sh),
        "RetrieveAETitle": .init(tag: 0x0008_0054, vr: .ae),
        "InstanceAvailability": .init(tag: 0x0008_0056, vr: .cs),
        "Modality": .init(tag: 0x0008_0060, vr: .cs),
        "ModalitiesInStudy": .init(tag: 0x0008_0061, vr: .cs),
        "InstitutionName": .init(tag: 0x0008_0080, vr: .lo),
        "ReferringPhysicianName": .init(tag: 0x0008_0090, vr: .pn),
        "TimezoneOffsetFromUTC": .init(tag: 0x0008_0201, vr: .sh),
        "StudyDescription": .init(tag: 0x0008_1030, vr: .lo),
        "SeriesDescription": .init(tag: 0x0008_103E, vr: .lo),
        "RetrieveURL": .init(tag: 0x0008_1190, vr: .ur),
        "PatientName": .init(tag: 0x0010_0010, vr: .pn),
        "PatientID": .init(tag: 0x0010_0020, vr: .lo),
        "IssuerOfPatientID": .init(tag: 0x0010_0021, vr: .lo),
        "PatientBirthDate": .init(tag: 0x0010_0030, vr: .da),
        "PatientSex": .init(tag: 0x0010_0040, vr: .cs),
        "BodyPartExamined": .init(tag: 0x0018_0015, vr: .cs),
        "StudyInstanceUID": .init(tag: 0x0020_000D, vr: .ui),
        "SeriesInstanceUID": .init(tag: 0x0020_000E, vr: .ui),
        "StudyID": .init(tag: 0x0020_0010, vr: .sh),
        "SeriesNumber": .init(tag: 0x0020_0011, vr: .is),
        "InstanceNumber": .init(tag: 0x0020_0013, vr: .is),
        "NumberOfStudyRelatedSeries": .init(tag: 0x0020_1206, vr: .is),
        "NumberOfStudyRelatedInstances": .init(tag: 0x0020_1208, vr: .is),
        "NumberOfSeriesRelatedInstances": .init(tag: 0x0020_1209, vr: .is),
        "NumberOfFrames": .init(tag: 0x0028_0008, vr: .is),
        "Rows": .init(tag: 0x0028_0010, vr: .us),
        "Columns": .init(tag: 0x0028_0011, vr: .us),
        "BitsAllocated": .init(tag: 0x0028_0100, vr: .us),
        "PerformedProcedureStepStartDate": .init(tag: 0x0040_0244, vr: .da),
        "PerformedProcedureStepStartTime": .init(tag: 0x0040_0245, vr: .tm),
    ]

    /// Keyword by tag.
    package static let byTag: [UInt32: String] = Dictionary(uniqueKeysWithValues: table.map { ($0.value.tag, $0.key) })

    /// The tag a query key names: a keyword, or eight hex digits (PS3.18 §8.3.4.1).
    package static func tag(for key: String) -> UInt32? {
        if let entry = table[key] { return entry.tag }
        guard key.count == 8, key.allSatisfy(\.isHexDigit) else { return nil }
        return UInt32(key, radix: 16)
    }
}

/// A QIDO-RS search (PS3.18 §10.6) parsed and checked: every value is validated before anything
/// is looked up, and a bad one is a ``DICOMwebError`` (400) that names the parameter.
///
/// Matching keys: PatientID (an NHS number: the only key that reaches the federated index),
/// StudyDate (`YYYYMMDD`, or a range `A-B`, `A-`, `-B`), ModalitiesInStudy, AccessionNumber
/// (`*`/`?` wildcards), StudyInstanceUID (a list), and at the lower levels Modality,
/// SeriesInstanceUID, SeriesNumber, SOPInstanceUID, SOPClassUID, InstanceNumber. Other known
/// attributes are accepted but not matched (``ignored``, reported in a `Warning` header, as PS3.18
/// §8.3.4 allows); unknown keys are refused.
package struct QIDOQuery: Sendable, Equatable {
    package enum Level: String, Sendable { case study, series, instance }

    package var patientID: NHSNumber?
    /// Inclusive bounds, `YYYYMMDD`; nil for an open end.
    package var studyDateFrom: String?
    package var studyDateTo: String?
    package var modalitiesInStudy: [String] = []
    package var accessionNumber: String?
    package var studyUIDs: [String] = []
    package var modalities: [String] = []
    package var seriesUIDs: [String] = []
    package var seriesNumber: Int?
    package var sopInstanceUIDs: [String] = []
    package var sopClassUIDs: [String] = []
    package var instanceNumber: Int?
    package var limit: Int?
    package var offset = 0
    package var includeAll = false
    package var includeFields: [UInt32] = []
    /// Known attributes the query names that are not used for matching.
    package var ignored: [String] = []
    /// The clinician asking (`clinician=`, a TrustMesh extension as on `/api/v1/query`), for the audit.
    package var clinician: String?

    /// The most results one answer holds; a larger `limit` is lowered to it (PS3.18 §8.3.4.4).
    package static let maximumLimit = 1000

    package var hasStudyDate: Bool { studyDateFrom != nil || studyDateTo != nil }

    package init() {}

    /// Parses query parameters in order.
    /// - Throws: ``DICOMwebError`` (400) naming the first bad key or value.
    package static func parse(_ parameters: [(key: String, value: String)], level: Level) throws(DICOMwebError)
        -> QIDOQuery
    {
        var query = QIDOQuery()
        for (rawKey, value) in parameters {
            let key = rawKey
            if key.isEmpty { continue }  // "?&limit=10", as some viewers send
            switch key {
            case "limit":
                query.limit = min(try integer(value, key: key), maximumLimit)
                continue
            case "offset":
                query.offset = try integer(value, key: key)
                continue
            case "fuzzymatching":
                guard value == "true" || value == "false" else {
                    throw .badRequest("fuzzymatching must be true or false, not \"\(value)\"")
                }
                if value == "true" { query.ignored.append("fuzzymatching") }
                continue
            case "includefield":
                for field in value.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                    if field == "all" {
                        query.includeAll = true
                    } else if let tag = DICOMKeyword.tag(for: field) {
                        query.includeFields.append(tag)
                    } else {
                        throw .badRequest("includefield: unknown attribute \"\(field)\"")
                    }
                }
                continue
            case "clinician":
                query.clinician = value
                continue
            default:
                break
            }
            guard let tag = DICOMKeyword.tag(for: key) else {
                throw .badRequest(
                    "unknown query parameter \"\(key)\": give a DICOM keyword or tag (e.g. PatientID, StudyDate), "
                        + "limit, offset, includefield or fuzzymatching")
            }
            let name = DICOMKeyword.byTag[tag] ?? DICOMJSONObject.key(tag)
            if value.isEmpty { continue }  // an empty value matches everything (universal matching)
            switch tag {
            case 0x0010_0020:
                do { query.patientID = try NHSNumber(value) } catch {
                    throw .badRequest("PatientID must be a valid NHS number (10 digits, check digit): \(error)")
                }
            case 0x0008_0020:
                (query.studyDateFrom, query.studyDateTo) = try dateRange(value, name: name)
            case 0x0008_0061:
                query.modalitiesInStudy = try codes(value, name: name)
            case 0x0008_0060 where level != .study:
                query.modalities = try codes(value, name: name)
            case 0x0008_0050:
                guard value.count <= 16, !value.contains("\\"), value.unicodeScalars.allSatisfy({ $0.value >= 0x20 })
                else {
                    throw .badRequest("\(name) must be at most 16 characters with no backslash or control character")
                }
                query.accessionNumber = value
            case 0x0020_000D:
                query.studyUIDs = try uids(value, name: name)
            case 0x0020_000E where level != .study:
                query.seriesUIDs = try uids(value, name: name)
            case 0x0020_0011 where level != .study:
                query.seriesNumber = try integer(value, key: name)
            case 0x0008_0018 where level == .instance:
                query.sopInstanceUIDs = try uids(value, name: name)
            case 0x0008_0016 where level == .instance:
                query.sopClassUIDs = try uids(value, name: name)
            case 0x0020_0013 where level == .instance:
                query.instanceNumber = try integer(value, key: name)
            default:
                query.ignored.append(name)
            }
        }
        return query
    }

    private static func integer(_ value: String, key: String) throws(DICOMwebError) -> Int {
        guard !value.isEmpty, value.count <= 9, value.allSatisfy(\.isASCIIDigit), let number = Int(value) else {
            throw .badRequest("\(key) must be a whole number ≥ 0, not \"\(value)\"")
        }
        return number
    }

    /// A UID list (PS3.18 §8.3.4.1: values separated by commas); each a valid UID (``DICOMUID``).
    static func uids(_ value: String, name: String) throws(DICOMwebError) -> [String] {
        let list = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for uid in list {
            do { try DICOMUID.check(uid, attribute: name) } catch { throw .badRequest("\(error)") }
        }
        return list
    }

    /// Code strings (CS, PS3.5 §6.2): upper-case letters, digits, space, underscore; at most 16.
    private static func codes(_ value: String, name: String) throws(DICOMwebError) -> [String] {
        let list = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for code in list {
            let valid =
                !code.isEmpty && code.count <= 16
                && code.unicodeScalars.allSatisfy {
                    ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == " " || $0 == "_"
                }
            if !valid { throw .badRequest("\(name): \"\(code)\" is not a DICOM code string (e.g. CT, MR)") }
        }
        return list
    }

    /// A date or a date range (PS3.4 §C.2.2.2.5).
    private static func dateRange(_ value: String, name: String) throws(DICOMwebError) -> (String?, String?) {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, value != "-" else {
            throw .badRequest("\(name) must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD, not \"\(value)\"")
        }
        for part in parts where !part.isEmpty && !isDate(part) {
            throw .badRequest("\(name): \"\(part)\" is not a date (YYYYMMDD)")
        }
        if parts.count == 1 { return (parts[0], parts[0]) }
        let from = parts[0].isEmpty ? nil : parts[0]
        let to = parts[1].isEmpty ? nil : parts[1]
        if let from, let to, from > to { throw .badRequest("\(name): the range \(value) ends before it starts") }
        return (from, to)
    }

    private static func isDate(_ text: String) -> Bool {
        guard text.count == 8, text.allSatisfy(\.isASCIIDigit) else { return false }
        let digits = Array(text.utf8).map { Int($0) - 48 }
        let month = digits[4] * 10 + digits[5]
        let day = digits[6] * 10 + digits[7]
        return (1...12).contains(month) && (1...31).contains(day)
    }

    // MARK: Matching

    /// Whether a study's attributes match the study-level keys.
    package func matchesStudy(
        nhsNumber: String?, studyUID: String, studyDate: String?, modalities: [String], accession: String?
    ) -> Bool {
        if let patientID, nhsNumber != patientID.digits { return false }
        if !studyUIDs.isEmpty && !studyUIDs.contains(studyUID) { return false }
        if hasStudyDate {
            guard let studyDate else { return false }
            if let studyDateFrom, studyDate < studyDateFrom { return false }
            if let studyDateTo, studyDate > studyDateTo { return false }
        }
        if !modalitiesInStudy.isEmpty && Set(modalitiesInStudy).isDisjoint(with: modalities) { return false }
        if let accessionNumber, !DICOMMatching.wildcard(accessionNumber, matches: accession ?? "") { return false }
        return true
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
