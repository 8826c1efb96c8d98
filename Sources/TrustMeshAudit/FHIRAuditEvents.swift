import Foundation
import TrustMeshCrypto
public import TrustMeshModel

/// A node's audit log as a FHIR R4 Bundle of AuditEvent resources, following IHE Basic Audit Log
/// Patterns (BALP): what the NHS's information governance teams read.
///
/// Each entry becomes one AuditEvent (`id` `ODS-SEQUENCE`, `recorded` the entry's time, `source`
/// the recording trust's node). Queries are `PatientQuery` (or `Query` without a patient), page
/// views `PatientRead`, a study shared with a peer (`fetchServed`), sent to a local client
/// (`retrieve`) or written to disk (`export`) `PrivacyDisclosure.Source`, a fetch completed at the
/// requester `PrivacyDisclosure.Recipient`; refusals are DICOM Security Alerts with outcome 4 and
/// the rule in `outcomeDesc`; the other kinds, and kinds this version does not know, are DICOM
/// event types with the entry's kind as a further `subtype` (`urn:trustmesh:audit-entry-kind`).
/// docs/ARCHITECTURE.md ("Audit in the NHS's formats") has the whole table.
///
/// Agents name the person (identity provider and subject, role, registration) or the system that
/// acted, each trust involved as an organisation (ODS code), and the nodes by their part in the
/// transfer (DICOM Source Role ID 110153, Destination Role ID 110152). Entities name the patient
/// by NHS number (`https://fhir.nhs.uk/Id/nhs-number`) and the study by Study Instance UID
/// (`urn:dicom:uid`).
///
/// ```swift
/// let json = try FHIRAuditEvents.bundle(
///     entries, recorder: AuditRecorder(trust: try TrustID("RRK"), name: "RRK"), timestamp: "2026-11-25T09:00:00Z")
/// ```
public enum FHIRAuditEvents {
    /// The NHS number identifier system.
    public static let nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"
    /// The ODS organisation code identifier system.
    public static let odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
    /// The code system of TrustMesh's entry kinds (`query`, `fetchServed`…), a further subtype of
    /// every AuditEvent.
    public static let kindSystem = "urn:trustmesh:audit-entry-kind"

    /// The Bundle (type `collection`) of every entry's AuditEvent, as JSON with sorted keys.
    /// - Parameters:
    ///   - entries: The log, in order (earlier entries tell later ones which patient a study is).
    ///   - recorder: The trust whose node recorded them.
    ///   - timestamp: When the Bundle was assembled, `YYYY-MM-DDTHH:MM:SSZ`.
    /// - Returns: UTF-8 JSON, ending with a newline.
    /// - Throws: If JSON serialisation fails (it does not for these values).
    public static func bundle(_ entries: [AuditEntry], recorder: AuditRecorder, timestamp: String) throws -> [UInt8] {
        var patients = AuditPatientIndex()
        var items: [[String: Any]] = []
        items.reserveCapacity(entries.count)
        for entry in entries {
            patients.learn(entry)
            items.append([
                "fullUrl": "urn:uuid:" + uuid(of: entry),
                "resource": auditEvent(entry, recorder: recorder, patients: patients),
            ])
        }
        let bundle: [String: Any] = [
            "resourceType": "Bundle", "type": "collection", "timestamp": timestamp,
            "identifier": ["system": "urn:trustmesh:audit-export", "value": recorder.trust.code + "-" + timestamp],
            "entry": items,
        ]
        var data = try JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(0x0A)
        return Array(data)
    }

    /// One entry's AuditEvent as a JSON object.
    /// - Parameters:
    ///   - entry: The entry.
    ///   - recorder: The trust whose node recorded it.
    ///   - patients: Patients of studies learnt from earlier entries.
    /// - Returns: The resource.
    public static func auditEvent(
        _ entry: AuditEntry, recorder: AuditRecorder, patients: AuditPatientIndex
    ) -> [String: Any] {
        var event = Event(entry: entry, recorder: recorder, patient: patients.patient(of: entry))
        event.map()
        return event.resource()
    }

    /// A stable UUID for an entry's `fullUrl`: the first 16 bytes of its hash, as a version 8
    /// (custom) RFC 9562 UUID.
    static func uuid(of entry: AuditEntry) -> String {
        var bytes = Array(entry.hash.rawBytes.prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String($0, radix: 16).leftPadded(2) }.joined()
        let h = Array(hex)
        return [h[0..<8], h[8..<12], h[12..<16], h[16..<20], h[20..<32]].map { String($0) }.joined(separator: "-")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

// MARK: - Building one event

extension FHIRAuditEvents {
    static let dcm = "http://dicom.nema.org/resources/ontology/DCM"
    static let balp = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."

    /// A Coding.
    static func coding(_ system: String, _ code: String, _ display: String? = nil) -> [String: Any] {
        var coding: [String: Any] = ["system": system, "code": code]
        if let display { coding["display"] = display }
        return coding
    }

    /// The node's Device-like identity: what `source.observer` and a node agent's `who` carry.
    static func nodeReference(_ trust: TrustID, name: String) -> [String: Any] {
        ["identifier": ["system": "urn:trustmesh:node", "value": trust.code], "display": "TrustMesh node of \(name)"]
    }

    /// One AuditEvent under construction.
    struct Event {
        let entry: AuditEntry
        let recorder: AuditRecorder
        let patient: String?
        var profile: String?
        var type: [String: Any] = [:]
        var subtypes: [[String: Any]] = []
        var action = "E"
        var agents: [[String: Any]] = []
        var entities: [[String: Any]] = []
        var organisations: [(TrustID, String)] = []

        init(entry: AuditEntry, recorder: AuditRecorder, patient: String?) {
            self.entry = entry
            self.recorder = recorder
            self.patient = patient
        }

        var actor: AuditParty { AuditParty.actor(of: entry) }
        var recorderNode: AuditParty { AuditParty.recorder(recorder) }

        // MARK: The mapping

        mutating func map() {
            switch entry.kind {
            case .query: query()
            case .view: read()
            case .fetchServed, .retrieve, .export, .studyPushed: disclosureAtSource()
            case .fetchCompleted, .pushReceived: disclosureAtRecipient()
            case .fetchRequested, .fetchAbandoned: transfer()
            case .fetchRefused, .peerRefused, .dicomRefused, .optOutRefused, .feedRefused, .pushRefused,
                .treeHeadConflict,
                .equivocation:
                refusal()
            case .ingest, .ingestRefused, .ingestFailed: ingest()
            case .careAdded, .optOut, .optOutWithdrawn, .emergencyReviewed, .recordPublished, .recordReceived,
                .feedReceived:
                patientRecord()
            case .instanceCorrected, .studyRejected, .copyMarked:
                type = coding(dcm, "110103", "DICOM Instances Accessed")
                action = entry.kind == .studyRejected ? "D" : "U"
                actorAgents(requestor: true)
                agent(recorderNode, type: coding(dcm, "110150", "Application"), requestor: false)
                patientAndStudy()
            case .nodeStarted, .nodeStopped:
                type = coding(dcm, "110100", "Application Activity")
                subtypes.append(
                    entry.kind == .nodeStarted
                        ? coding(dcm, "110120", "Application Start") : coding(dcm, "110121", "Application Stop"))
                agent(recorderNode, type: coding(dcm, "110150", "Application"), requestor: true)
            case .auditExported, .auditProofWritten: auditLogUsed()
            case .keyChanged, .keyCertified, .keyRevoked, .membershipChanged, .equivocationResolved:
                type = coding(dcm, "110113", "Security Alert")
                subtypes.append(coding(dcm, "110129", "Security Configuration"))
                actorAgents(requestor: true)
                agent(recorderNode, type: coding(dcm, "110150", "Application"), requestor: false)
            default:
                // `checkpoint`, and kinds this version does not know: an application activity
                // that keeps every subject key as an entity detail.
                type = coding(dcm, "110100", "Application Activity")
                actorAgents(requestor: true)
                agent(recorderNode, type: coding(dcm, "110150", "Application"), requestor: false)
                patientAndStudy()
                if !entry.subject.isEmpty {
                    entities.append([
                        "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
                        "what": ["display": "audit entry \(recorder.trust.code) #\(entry.sequence)"],
                        "detail": entry.subject.sorted { $0.key < $1.key }.map {
                            ["type": $0.key.rawValue, "valueString": $0.value]
                        },
                    ])
                }
            }
            subtypes.append(coding(kindSystem, entry.kind.rawValue))
        }

        /// BALP Query / PatientQuery: the client (Source Role ID) asked the server (Destination).
        mutating func query() {
            profile = patient == nil ? "Query" : "PatientQuery"
            type = coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "Restful Operation")
            subtypes.append(coding("http://hl7.org/fhir/restful-interaction", "search-type", "search type"))
            action = "E"
            clientAndServer(
                client: coding(dcm, "110153", "Source Role ID"), server: coding(dcm, "110152", "Destination Role ID"))
            var criteria = "identifier=" + FHIRAuditEvents.nhsNumberSystem + "|" + (patient ?? "")
            if patient == nil { criteria = entry.details ?? "" }
            var query: [String: Any] = [
                "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
                "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "24", "Query"),
                "query": Data(criteria.utf8).base64EncodedString(),
            ]
            if let details = entry.details { query["description"] = details }
            entities.append(query)
            if let patient { entities.append(Self.patientEntity(patient)) }
        }

        /// BALP Read / PatientRead: the server (Source Role ID, this node) sent a study page to the
        /// client (Destination Role ID).
        mutating func read() {
            profile = patient == nil ? "Read" : "PatientRead"
            type = coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "Restful Operation")
            subtypes.append(coding("http://hl7.org/fhir/restful-interaction", "read", "read"))
            action = "R"
            clientAndServer(
                client: coding(dcm, "110152", "Destination Role ID"), server: coding(dcm, "110153", "Source Role ID"))
            patientAndStudy()
        }

        /// The client and server agents of a RESTful interaction, and the person as user.
        ///
        /// A person acts through this node's page (the client, at this node's door); a system is
        /// the client itself, at its address when the log names one.
        mutating func clientAndServer(client: [String: Any], server: [String: Any]) {
            let actor = self.actor
            if case .person = actor.kind {
                var page = recorderNode
                page.display = "TrustMesh page of \(recorder.name)"
                agent(page, type: client, requestor: false, who: ["display": page.display])
                personAgent(actor)
            } else {
                var client1 = actor
                if client1.network == nil { client1.network = recorderNode.network }
                agent(client1, type: client, requestor: true)
            }
            agent(recorderNode, type: server, requestor: false)
        }

        /// BALP PrivacyDisclosure.Source: this node (source) disclosed a study to a recipient.
        mutating func disclosureAtSource() {
            profile = patient == nil ? nil : "PrivacyDisclosure.Source"
            type = coding(dcm, "110106", "Export")
            subtypes.append(
                coding(
                    "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle", "disclose",
                    "Disclose Record Lifecycle Event"))
            action = "R"
            agent(recorderNode, type: coding(dcm, "110153", "Source Role ID"), requestor: false)
            let destination = coding(dcm, "110152", "Destination Role ID")
            switch entry.kind {
            case .fetchServed:
                // The peer's node asked (with a care relationship naming its clinician).
                let peer = AuditParty.peer(of: entry) ?? actor
                agent(peer, type: destination, requestor: true)
                if let clinician = careClinician() { personAgent(clinician) }
            case .studyPushed:
                // This trust's clinician sent it to the peer (an emergency push).
                agent(AuditParty.peer(of: entry) ?? actor, type: destination, requestor: false)
                actorAgents(requestor: true)
            case .export:
                let folder = entry.details ?? "a folder"
                var media = AuditParty(kind: .system, display: folder, network: nil)
                media.network = (URL(fileURLWithPath: folder).absoluteString, .uri)
                agent(media, type: destination, requestor: false)
                actorAgents(requestor: true)
            default:
                // A local client (DICOMweb, C-MOVE): a system at its address, or a person's client.
                let actor = self.actor
                if case .person = actor.kind {
                    var client = recorderNode
                    client.display = "DICOMweb client of \(actor.display)"
                    agent(client, type: destination, requestor: false, who: ["display": client.display])
                    personAgent(actor)
                } else {
                    var client = actor
                    if client.network == nil { client.network = recorderNode.network }
                    agent(client, type: destination, requestor: true)
                }
            }
            patientAndStudy()
        }

        /// BALP PrivacyDisclosure.Recipient: this node (recipient) received a study from a holder.
        mutating func disclosureAtRecipient() {
            profile = patient == nil ? nil : "PrivacyDisclosure.Recipient"
            type = coding(dcm, "110107", "Import")
            subtypes.append(
                coding(
                    "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle", "disclose",
                    "Disclose Record Lifecycle Event"))
            action = "C"
            if let holder = AuditParty.peer(of: entry) {
                agent(holder, type: coding(dcm, "110153", "Source Role ID"), requestor: false)
            }
            agent(recorderNode, type: coding(dcm, "110152", "Destination Role ID"), requestor: false)
            if case .person = actor.kind { personAgent(actor) }
            patientAndStudy()
        }

        /// A fetch asked for (Begin Transferring) or given up (Transferred, failed) at the requester.
        mutating func transfer() {
            if entry.kind == .fetchRequested {
                type = coding(dcm, "110102", "Begin Transferring DICOM Instances")
                action = "E"
            } else {
                type = coding(dcm, "110104", "DICOM Instances Transferred")
                action = "C"
            }
            if let holder = AuditParty.peer(of: entry) {
                agent(holder, type: coding(dcm, "110153", "Source Role ID"), requestor: false)
            }
            agent(recorderNode, type: coding(dcm, "110152", "Destination Role ID"), requestor: false)
            actorAgents(requestor: true, unlessNode: true)
            patientAndStudy()
        }

        /// A refusal: a DICOM Security Alert, outcome 4, the refused party the requestor.
        mutating func refusal() {
            type = coding(dcm, "110113", "Security Alert")
            if entry.kind == .peerRefused {
                subtypes.append(coding(dcm, "110126", "Node Authentication"))
            } else if entry.kind != .treeHeadConflict && entry.kind != .equivocation {
                subtypes.append(coding(dcm, "110132", "Use of Restricted Function"))
            }
            action = "E"
            let refused =
                [.fetchRefused, .peerRefused, .treeHeadConflict, .equivocation].contains(entry.kind)
                ? (AuditParty.peer(of: entry) ?? actor) : actor
            if case .person = refused.kind {
                personAgent(refused)
            } else {
                agent(refused, type: coding(dcm, "110153", "Source Role ID"), requestor: true)
            }
            agent(recorderNode, type: coding(dcm, "110150", "Application"), requestor: false)
            patientAndStudy()
        }

        /// Studies brought in (CLI, C-STORE, STOW-RS): a DICOM Import.
        mutating func ingest() {
            type = coding(dcm, "110107", "Import")
            action = "C"
            let sender = actor
            if case .person = sender.kind {
                personAgent(sender)
            } else {
                agent(sender, type: coding(dcm, "110153", "Source Role ID"), requestor: true)
            }
            agent(recorderNode, type: coding(dcm, "110152", "Destination Role ID"), requestor: false)
            patientAndStudy()
        }

        /// Records about a patient (care relationships, opt-outs, index records): DICOM Patient Record.
        mutating func patientRecord() {
            type = coding(dcm, "110110", "Patient Record")
            action = [.optOutWithdrawn, .emergencyReviewed].contains(entry.kind) ? "U" : "C"
            actorAgents(requestor: true)
            agent(recorderNode, type: coding(dcm, "110150", "Application"), requestor: false)
            if let origin = entry[.origin], let trust = try? TrustID(origin), trust != recorder.trust {
                organisations.append((trust, origin))
            }
            patientAndStudy()
        }

        /// `audit export`: DICOM Audit Log Used, the log the entity.
        mutating func auditLogUsed() {
            type = coding(dcm, "110101", "Audit Log Used")
            action = "R"
            actorAgents(requestor: true)
            agent(recorderNode, type: coding(dcm, "110150", "Application"), requestor: false)
            var log: [String: Any] = [
                "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
                "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "13", "Security Resource"),
                "what": [
                    "identifier": ["system": "urn:trustmesh:audit-log", "value": recorder.trust.code],
                    "display": "audit log of \(recorder.name)",
                ],
            ]
            var detail: [[String: Any]] = []
            if let format = entry[.format] { detail.append(["type": "format", "valueString": format]) }
            if let count = entry[.entries] { detail.append(["type": "entries", "valueString": count]) }
            if !detail.isEmpty { log["detail"] = detail }
            if let path = entry.details { log["description"] = "written to " + path }
            entities.append(log)
        }

        // MARK: Agents and entities

        /// The actor: a person as user (and their organisation), a node as itself, a system as an
        /// application.
        mutating func actorAgents(requestor: Bool, unlessNode: Bool = false) {
            let actor = self.actor
            switch actor.kind {
            case .person: personAgent(actor)
            case .node(let trust):
                if unlessNode, trust == recorder.trust { return }
                agent(actor, type: FHIRAuditEvents.coding(dcm, "110150", "Application"), requestor: requestor)
            case .system:
                agent(actor, type: FHIRAuditEvents.coding(dcm, "110150", "Application"), requestor: requestor)
            }
        }

        /// A person as BALP's `user`: information recipient, requestor, identified by their
        /// identity provider and subject there.
        mutating func personAgent(_ person: AuditParty) {
            guard case .person(let issuer, let subject, let role, let organisation, let registration, _) = person.kind
            else { return }
            var identifier: [String: Any] = ["value": subject.isEmpty ? person.display : subject]
            if !issuer.isEmpty { identifier["system"] = issuer }
            var agent: [String: Any] = [
                "type": [
                    "coding": [
                        coding(
                            "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP",
                            "information recipient")
                    ]
                ],
                "who": ["identifier": identifier, "display": person.display],
                "name": person.display, "requestor": true,
            ]
            if let role, !role.isEmpty { agent["role"] = [["text": role]] }
            if let registration, !registration.isEmpty { agent["altId"] = registration }
            agents.append(agent)
            if let organisation, let trust = try? TrustID(organisation) { organisations.append((trust, organisation)) }
        }

        /// A node or system agent.
        mutating func agent(_ party: AuditParty, type: [String: Any], requestor: Bool, who: [String: Any]? = nil) {
            var agent: [String: Any] = ["type": ["coding": [type]], "requestor": requestor]
            switch party.kind {
            case .node(let trust):
                agent["who"] = who ?? FHIRAuditEvents.nodeReference(trust, name: party.display)
                if trust != recorder.trust { organisations.append((trust, party.display)) }
            default:
                agent["who"] = who ?? ["display": party.display]
            }
            if let network = party.network {
                agent["network"] = ["address": network.address, "type": network.type.rawValue]
            }
            agents.append(agent)
        }

        /// The patient (by NHS number) and the study (by Study Instance UID), when known.
        mutating func patientAndStudy() {
            if let patient { entities.append(Self.patientEntity(patient)) }
            if let study = entry[.studyUID] {
                var entity: [String: Any] = [
                    "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
                    "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "3", "Report"),
                    "what": [
                        "type": "ImagingStudy",
                        "identifier": ["system": "urn:dicom:uid", "value": "urn:oid:" + study],
                    ],
                ]
                let keys: [AuditEntry.SubjectKey] = [
                    .seriesUID, .sopInstanceUID, .instances, .bytes, .chunks, .transferID, .careID, .careKind,
                    .expiryEffective, .metadata,
                ]
                let detail = keys.compactMap { key in entry[key].map { ["type": key.rawValue, "valueString": $0] } }
                if !detail.isEmpty { entity["detail"] = detail }
                entities.append(entity)
            } else if let careID = entry[.careID] {
                entities.append([
                    "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
                    "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"),
                    "what": ["identifier": ["system": "urn:trustmesh:care-relationship", "value": careID]],
                    "detail": [["type": "careKind", "valueString": entry[.careKind] ?? ""]],
                ])
            }
        }

        static func patientEntity(_ nhs: String) -> [String: Any] {
            [
                "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
                "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient"),
                "what": ["type": "Patient", "identifier": ["system": FHIRAuditEvents.nhsNumberSystem, "value": nhs]],
            ]
        }

        /// The clinician a shared care relationship names (`details` of `fetchServed`), as a person.
        func careClinician() -> AuditParty? {
            guard let details = entry.details,
                let care = try? JSONDecoder().decode(CareRelationship.self, from: Data(details.utf8)),
                let person = care.clinicianIdentity
            else { return nil }
            return AuditParty(
                kind: .person(
                    issuer: person.issuer, subject: person.subject, role: person.roleCode,
                    organisation: person.organisation.code, registration: person.registration, session: nil),
                display: person.name, network: nil)
        }

        // MARK: The resource

        func resource() -> [String: Any] {
            var agents = self.agents
            var seen: Set<String> = [recorder.trust.code]
            var organisations = [(recorder.trust, recorder.name)]
            for (trust, name) in self.organisations where seen.insert(trust.code).inserted {
                organisations.append((trust, name))
            }
            for (trust, name) in organisations {
                agents.append([
                    "type": [
                        "coding": [
                            coding("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV", "healthcare provider")
                        ]
                    ],
                    "who": [
                        "type": "Organization",
                        "identifier": ["system": FHIRAuditEvents.odsSystem, "value": trust.code], "display": name,
                    ],
                    "requestor": false,
                ])
            }
            var resource: [String: Any] = [
                "resourceType": "AuditEvent",
                "id": "\(recorder.trust.code)-\(entry.sequence)",
                "type": type,
                "subtype": subtypes,
                "action": action,
                "recorded": entry.time,
                "outcome": AuditOutcome.of(entry).rawValue,
                "agent": agents,
                "source": [
                    "site": recorder.trust.code,
                    "observer": FHIRAuditEvents.nodeReference(recorder.trust, name: recorder.name),
                    "type": [
                        coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")
                    ],
                ],
            ]
            if let profile { resource["meta"] = ["profile": [balp + profile]] }
            if let description = AuditOutcome.description(of: entry) { resource["outcomeDesc"] = description }
            if !entities.isEmpty { resource["entity"] = entities }
            if let careKind = entry[.careKind] {
                resource["purposeOfEvent"] = [
                    [
                        "coding": [
                            careKind == "emergency"
                                ? coding(
                                    "http://terminology.hl7.org/CodeSystem/v3-ActReason", "ETREAT",
                                    "Emergency Treatment")
                                : coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", "TREAT", "treatment")
                        ]
                    ]
                ]
            }
            return resource
        }
    }
}
