import Foundation
public import TrustMeshModel

/// A node's audit entries as DICOM PS3.15 A.5 audit messages (the XML ATNA audit record
/// repositories and syslog collectors read), one message per entry.
///
/// Messages validate against the A.5.1 schema (transcribed in `docs/schemas/dicom-audit-message.rnc`).
/// Each is a single line: every line break inside a value is written as a character reference, so
/// a file of messages is one message per line and a syslog frame carries one.
///
/// | entries | EventID | action | outcome |
/// |---|---|---|---|
/// | `query` | 110112 Query | E | 0 |
/// | `fetchRequested`, `fetchServed`, `retrieve`, `studyPushed`, `pushReceived` | 110102 Begin Transferring DICOM Instances | E | 0 |
/// | `fetchCompleted`, `ingest` / `fetchAbandoned`, `ingestFailed` / `ingestRefused` | 110104 DICOM Instances Transferred | C | 0 / 8 / 4 |
/// | `export` | 110106 Export | R | 0 |
/// | `view`, `retrieve` of metadata only / `instanceCorrected`, `copyMarked` / `studyRejected` | 110103 DICOM Instances Accessed | R / U / D | 0 |
/// | `fetchRefused`, `dicomRefused`, `feedRefused`, `pushRefused`, `optOutRefused` / `peerRefused` / `keyChanged` | 110113 Security Alert (110132 Use of Restricted Function / 110126 Node Authentication / 110129 Security Configuration) | E | 4 / 4 / 0 |
/// | `careAdded`, `optOut`, `recordPublished`, `recordReceived`, `feedReceived` / `optOutWithdrawn`, `emergencyReviewed` | 110110 Patient Record | C / U | 0 |
/// | `auditExported`, `auditProofWritten` | 110101 Audit Log Used | R | 0 |
/// | `treeHeadConflict`, `equivocation` | 110113 Security Alert | E | 8 |
/// | `keyCertified`, `keyRevoked`, `membershipChanged`, `equivocationResolved` | 110113 Security Alert (110129 Security Configuration) | E | 0 |
/// | `nodeStarted` / `nodeStopped` | 110100 Application Activity (110120 / 110121) | E | 0 |
/// | any other kind | 110100 Application Activity | E | 0 |
///
/// Every message also carries the entry's kind as an EventTypeCode in the private scheme
/// `99TRUSTMESH`, and names its trust and sequence number in the audit source. Transfers name the
/// sending node (RoleIDCode 110153 Source Role ID) and the receiving one (110152 Destination Role
/// ID); the patient is named by NHS number in HL7 CX form with the NHS number's OID
/// (`9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO`), the study by its Study Instance UID.
public enum DICOMAuditMessages {
    /// The OID of the NHS number as an identifier issuer (HL7 UK).
    public static let nhsNumberOID = "2.16.840.1.113883.2.1.4.1"
    /// The Study Root Query/Retrieve Information Model – FIND SOP Class: the query model a
    /// federated query by NHS number corresponds to.
    public static let studyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"

    /// Every entry's message, one per line (UTF-8, no XML declaration).
    /// - Parameters:
    ///   - entries: The log, in order (earlier entries tell later ones which patient a study is).
    ///   - recorder: The trust whose node recorded them.
    /// - Returns: The lines, each ending with a newline.
    public static func lines(_ entries: [AuditEntry], recorder: AuditRecorder) -> [UInt8] {
        var patients = AuditPatientIndex()
        var out: [UInt8] = []
        for entry in entries {
            patients.learn(entry)
            out += message(entry, recorder: recorder, patients: patients).utf8
            out.append(0x0A)
        }
        return out
    }

    /// One entry's `AuditMessage`, on one line.
    /// - Parameters:
    ///   - entry: The entry.
    ///   - recorder: The trust whose node recorded it.
    ///   - patients: Patients of studies learnt from earlier entries.
    /// - Returns: The XML element, without a declaration or trailing newline.
    public static func message(_ entry: AuditEntry, recorder: AuditRecorder, patients: AuditPatientIndex) -> String {
        var message = Message(entry: entry, recorder: recorder, patient: patients.patient(of: entry))
        message.map()
        return message.xml()
    }

    /// A coded value: `csd-code`, `codeSystemName`, `originalText`.
    struct Code {
        var code: String
        var system: String
        var meaning: String

        static func dcm(_ code: String, _ meaning: String) -> Code { Code(code: code, system: "DCM", meaning: meaning) }

        func xml(_ element: String) -> String {
            "<\(element) csd-code=\"\(escape(code))\" codeSystemName=\"\(escape(system))\" originalText=\"\(escape(meaning))\"/>"
        }
    }

    /// One message under construction.
    struct Message {
        let entry: AuditEntry
        let recorder: AuditRecorder
        let patient: String?
        var eventID = Code.dcm("110100", "Application Activity")
        var eventTypes: [Code] = []
        var action = "E"
        var participants: [String] = []
        var objects: [String] = []

        init(entry: AuditEntry, recorder: AuditRecorder, patient: String?) {
            self.entry = entry
            self.recorder = recorder
            self.patient = patient
        }

        var actor: AuditParty { AuditParty.actor(of: entry) }
        var node: AuditParty { AuditParty.recorder(recorder) }
        static let source = Code.dcm("110153", "Source Role ID")
        static let destination = Code.dcm("110152", "Destination Role ID")
        static let application = Code.dcm("110150", "Application")

        // MARK: The mapping

        mutating func map() {
            switch entry.kind {
            case .query:
                eventID = .dcm("110112", "Query")
                participant(actor, requestor: true, roles: [Self.source])
                participant(node, requestor: false, roles: [Self.destination])
                var criteria = "identifier=" + FHIRAuditEvents.nhsNumberSystem + "|" + (patient ?? "")
                if patient == nil { criteria = entry.details ?? "" }
                var details: [(String, String)] = []
                if let text = entry.details { details.append(("QueryDescription", text)) }
                object(
                    id: studyRootFind, type: "2", role: "24", idType: .dcm("110181", "SOP Class UID"),
                    query: Data(criteria.utf8).base64EncodedString(), details: details)
                patientObject()
            case .fetchRequested, .fetchCompleted, .fetchAbandoned, .pushReceived:
                if entry.kind == .fetchRequested || entry.kind == .pushReceived {
                    eventID = .dcm("110102", "Begin Transferring DICOM Instances")
                } else {
                    eventID = .dcm("110104", "DICOM Instances Transferred")
                    action = "C"
                }
                if let holder = AuditParty.peer(of: entry) {
                    participant(holder, requestor: false, roles: [Self.source])
                }
                participant(node, requestor: false, roles: [Self.destination])
                if case .person = actor.kind { participant(actor, requestor: true, roles: []) }
                studyAndPatient()
            case .fetchServed:
                eventID = .dcm("110102", "Begin Transferring DICOM Instances")
                participant(node, requestor: false, roles: [Self.source])
                participant(AuditParty.peer(of: entry) ?? actor, requestor: true, roles: [Self.destination])
                studyAndPatient()
            case .studyPushed:
                eventID = .dcm("110102", "Begin Transferring DICOM Instances")
                participant(node, requestor: false, roles: [Self.source])
                participant(AuditParty.peer(of: entry) ?? actor, requestor: false, roles: [Self.destination])
                participant(actor, requestor: true, roles: [])
                studyAndPatient()
            case .retrieve:
                if entry[.metadata] != nil {
                    eventID = .dcm("110103", "DICOM Instances Accessed")
                    action = "R"
                } else {
                    eventID = .dcm("110102", "Begin Transferring DICOM Instances")
                }
                participant(node, requestor: false, roles: [Self.source])
                participant(actor, requestor: true, roles: [Self.destination])
                studyAndPatient()
            case .ingest, .ingestRefused, .ingestFailed:
                eventID = .dcm("110104", "DICOM Instances Transferred")
                action = "C"
                participant(actor, requestor: true, roles: [Self.source])
                participant(node, requestor: false, roles: [Self.destination])
                studyAndPatient()
            case .export:
                eventID = .dcm("110106", "Export")
                action = "R"
                participant(actor, requestor: true, roles: [])
                participant(node, requestor: false, roles: [Self.source])
                let folder = URL(fileURLWithPath: entry.details ?? "/").absoluteString
                participants.append(
                    "<ActiveParticipant UserID=\"\(escape(folder))\" UserIsRequestor=\"false\" "
                        + "NetworkAccessPointID=\"\(escape(folder))\" NetworkAccessPointTypeCode=\"5\">"
                        + Code.dcm("110154", "Destination Media").xml("RoleIDCode")
                        + "<MediaIdentifier>" + Code.dcm("110037", "URI").xml("MediaType") + "</MediaIdentifier>"
                        + "</ActiveParticipant>")
                studyAndPatient()
            case .view, .instanceCorrected, .studyRejected, .copyMarked:
                eventID = .dcm("110103", "DICOM Instances Accessed")
                action = entry.kind == .view ? "R" : entry.kind == .studyRejected ? "D" : "U"
                participant(actor, requestor: true, roles: [Self.destination])
                participant(node, requestor: false, roles: [Self.source])
                studyAndPatient()
            case .fetchRefused, .peerRefused, .dicomRefused, .optOutRefused, .feedRefused, .pushRefused:
                securityAlert(
                    entry.kind == .peerRefused
                        ? .dcm("110126", "Node Authentication") : .dcm("110132", "Use of Restricted Function"))
            case .keyChanged, .keyCertified, .keyRevoked, .membershipChanged, .equivocationResolved:
                securityAlert(.dcm("110129", "Security Configuration"))
            case .treeHeadConflict, .equivocation:
                securityAlert(nil)
            case .careAdded, .optOut, .optOutWithdrawn, .emergencyReviewed, .recordPublished, .recordReceived,
                .feedReceived:
                eventID = .dcm("110110", "Patient Record")
                action = [.optOutWithdrawn, .emergencyReviewed].contains(entry.kind) ? "U" : "C"
                participant(actor, requestor: true, roles: [])
                participant(node, requestor: false, roles: [Self.application])
                studyAndPatient()
            case .auditExported, .auditProofWritten:
                eventID = .dcm("110101", "Audit Log Used")
                action = "R"
                participant(actor, requestor: true, roles: [])
                participant(node, requestor: false, roles: [Self.application])
                var details: [(String, String)] = []
                if let format = entry[.format] { details.append(("Format", format)) }
                if let count = entry[.entries] { details.append(("Entries", count)) }
                if let path = entry.details { details.append(("WrittenTo", path)) }
                object(
                    id: "urn:trustmesh:audit-log:" + recorder.trust.code, type: "2", role: "13",
                    idType: Code(code: "12", system: "RFC-3881", meaning: "URI"), name: "audit log of \(recorder.name)",
                    details: details)
            case .nodeStarted, .nodeStopped:
                eventID = .dcm("110100", "Application Activity")
                eventTypes.append(
                    entry.kind == .nodeStarted
                        ? .dcm("110120", "Application Start") : .dcm("110121", "Application Stop"))
                participant(node, requestor: false, roles: [Self.application])
            default:
                eventID = .dcm("110100", "Application Activity")
                if case .node(let trust) = actor.kind, trust == recorder.trust {
                    participant(node, requestor: true, roles: [Self.application])
                } else {
                    participant(actor, requestor: true, roles: [])
                    participant(node, requestor: false, roles: [Self.application])
                }
                studyAndPatient()
                if !entry.subject.isEmpty || entry.details != nil {
                    var details = entry.subject.sorted { $0.key < $1.key }.map { ($0.key.rawValue, $0.value) }
                    if let text = entry.details { details.append(("details", text)) }
                    object(
                        id: "\(recorder.trust.code)-\(entry.sequence)", type: "2", role: nil,
                        idType: Code(code: "9", system: "RFC-3881", meaning: "Report Number"),
                        name: "audit entry \(recorder.trust.code) #\(entry.sequence)", details: details)
                }
            }
            eventTypes.append(Code(code: entry.kind.rawValue, system: "99TRUSTMESH", meaning: entry.kind.rawValue))
        }

        /// A DICOM Security Alert (A.5.3.11): this node reports, the refused party performed, the
        /// rule is the alert subject.
        mutating func securityAlert(_ type: Code?) {
            eventID = .dcm("110113", "Security Alert")
            if let type { eventTypes.append(type) }
            let performer =
                [.fetchRefused, .peerRefused, .treeHeadConflict, .equivocation].contains(entry.kind)
                ? (AuditParty.peer(of: entry) ?? actor) : actor
            participant(performer, requestor: true, roles: [])
            participant(node, requestor: false, roles: [Self.application])
            var details: [(String, String)] = []
            if let description = AuditOutcome.description(of: entry) {
                details.append(("Alert Description", description))
            }
            if entry.kind == .keyChanged, let previous = entry.details { details.append(("PreviousKey", previous)) }
            let subject = entry[.rule] ?? entry.kind.rawValue
            object(
                id: "urn:trustmesh:rule:" + subject, type: "2", role: "13",
                idType: Code(code: "12", system: "RFC-3881", meaning: "URI"), name: subject, details: details)
            studyAndPatient()
        }

        // MARK: Participants and objects

        /// An ActiveParticipant.
        mutating func participant(_ party: AuditParty, requestor: Bool, roles: [Code]) {
            var roles = roles
            var attributes: [(String, String)]
            switch party.kind {
            case .node(let trust):
                attributes = [("UserID", trust.code), ("UserName", "TrustMesh node of \(party.display)")]
            case .person(let issuer, let subject, let role, _, _, let session):
                attributes = [("UserID", subject.isEmpty ? party.display : subject)]
                if !issuer.isEmpty { attributes.append(("AlternativeUserID", issuer)) }
                attributes.append(("UserName", party.display + (session.map { " (session \($0))" } ?? "")))
                if let role, !role.isEmpty { roles.append(Code(code: role, system: "99NHSRBAC", meaning: role)) }
            case .system:
                attributes = [("UserID", party.display)]
            }
            attributes.append(("UserIsRequestor", requestor ? "true" : "false"))
            if let network = party.network {
                attributes.append(("NetworkAccessPointID", network.address))
                attributes.append(("NetworkAccessPointTypeCode", network.type.rawValue))
            }
            let open = attributes.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
            participants.append(
                "<ActiveParticipant\(open)>" + roles.map { $0.xml("RoleIDCode") }.joined() + "</ActiveParticipant>")
        }

        /// A ParticipantObjectIdentification.
        mutating func object(
            id: String, type: String, role: String?, idType: Code, name: String? = nil, query: String? = nil,
            details: [(String, String)] = [], description: String = ""
        ) {
            var attributes = " ParticipantObjectID=\"\(escape(id))\" ParticipantObjectTypeCode=\"\(type)\""
            if let role { attributes += " ParticipantObjectTypeCodeRole=\"\(role)\"" }
            var body = idType.xml("ParticipantObjectIDTypeCode")
            if let query {
                body += "<ParticipantObjectQuery>\(query)</ParticipantObjectQuery>"
            } else {
                body += "<ParticipantObjectName>\(escape(name ?? id))</ParticipantObjectName>"
            }
            for (key, value) in details {
                body +=
                    "<ParticipantObjectDetail type=\"\(escape(key))\" value=\"\(Data(value.utf8).base64EncodedString())\"/>"
            }
            body += description
            objects.append("<ParticipantObjectIdentification\(attributes)>\(body)</ParticipantObjectIdentification>")
        }

        /// The study (Study Instance UID, 110180) and the patient (NHS number), when known.
        mutating func studyAndPatient() {
            if let study = entry[.studyUID] {
                let keys: [AuditEntry.SubjectKey] = [
                    .seriesUID, .sopInstanceUID, .bytes, .chunks, .transferID, .careID, .careKind, .expiryEffective,
                ]
                let details = keys.compactMap { key in entry[key].map { (key.rawValue, $0) } }
                var description = "<ParticipantObjectDescription>"
                if let count = entry[.instances], Int(count) != nil {
                    description += "<SOPClass NumberOfInstances=\"\(count)\"/>"
                }
                description += "<ParticipantObjectContainsStudy><StudyIDs UID=\"\(escape(study))\"/>"
                description += "</ParticipantObjectContainsStudy></ParticipantObjectDescription>"
                object(
                    id: study, type: "2", role: "3", idType: .dcm("110180", "Study Instance UID"), details: details,
                    description: description)
            }
            patientObject()
        }

        /// The patient: NHS number in HL7 CX form with its assigning authority's OID.
        mutating func patientObject() {
            guard let patient else { return }
            object(
                id: "\(patient)^^^&\(nhsNumberOID)&ISO", type: "1", role: "1",
                idType: Code(code: "2", system: "RFC-3881", meaning: "Patient Number"),
                name: "NHS number " + displayNHSNumber(patient))
        }

        // MARK: The message

        func xml() -> String {
            var event =
                "<EventIdentification EventActionCode=\"\(action)\" EventDateTime=\"\(escape(entry.time))\" "
                + "EventOutcomeIndicator=\"\(AuditOutcome.of(entry).rawValue)\">"
            event += eventID.xml("EventID") + eventTypes.map { $0.xml("EventTypeCode") }.joined()
            if let description = AuditOutcome.description(of: entry) {
                event += "<EventOutcomeDescription>\(escape(description))</EventOutcomeDescription>"
            }
            event += "</EventIdentification>"
            let source =
                "<AuditSourceIdentification AuditEnterpriseSiteID=\"\(escape(recorder.name))\" "
                + "AuditSourceID=\"\(escape(recorder.trust.code))\"><AuditSourceTypeCode csd-code=\"4\"/>"
                + "</AuditSourceIdentification>"
            return "<AuditMessage>" + event + participants.joined() + source + objects.joined() + "</AuditMessage>"
        }
    }
}

/// XML-escapes a value for an attribute or text: the five special characters, line ends and tabs
/// as character references (so a message stays on one line and attribute values keep them), and
/// characters XML 1.0 cannot carry (C0 controls but tab, line feed and carriage return; U+FFFE,
/// U+FFFF) replaced by U+FFFD.
func escape(_ value: String) -> String {
    var out = ""
    out.reserveCapacity(value.utf8.count)
    for scalar in value.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t": out += "&#9;"
        case "\n": out += "&#10;"
        case "\r": out += "&#13;"
        default:
            if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                out.unicodeScalars.append("\u{FFFD}")
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}
