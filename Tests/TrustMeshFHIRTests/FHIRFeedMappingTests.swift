import Foundation
import Testing
import TrustMeshFHIR
import TrustMeshModel

/// The FHIR feed's strict JSON reader and its mapping of Appointment and ServiceRequest to feed
/// events, without a node (the door itself: `FHIRFeedTests`).
@Suite struct FHIRFeedMappingTests {
    static let nhs = "9434765919"
    static let source = "FHIR R4 system rrk-tie"

    static func appointment(_ changes: [String: String] = [:], participants: String? = nil) -> String {
        let fields: [String: String] = [
            "resourceType": #""Appointment""#, "id": #""a1""#, "status": #""booked""#,
            "start": #""2026-12-07T09:00:00+00:00""#, "end": #""2026-12-07T09:15:00Z""#,
            "identifier": #"[{"value": "APT-1"}]"#,
            "participant": participants
                ?? """
                [{"actor": {"type": "Patient", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", \
                "value": "\(nhs)"}}, "status": "accepted"}, {"actor": {"reference": "Practitioner/1", \
                "display": "Dr A Khan"}, "status": "accepted"}]
                """,
        ].merging(changes) { $1 }
        return "{"
            + fields.keys.sorted().compactMap { key in
                fields[key]!.isEmpty ? nil : "\"\(key)\": \(fields[key]!)"
            }.joined(separator: ", ") + "}"
    }

    static func map(_ text: String, _ type: String = "Appointment") -> Result<FHIRFeedItem, FHIRIssues> {
        FHIRFeedMapping.resource(Array(text.utf8), expected: type, source: source)
    }

    static func issues(_ text: String, _ type: String = "Appointment") -> [String] {
        guard case .failure(let found) = map(text, type) else { return [] }
        return found.issues.map(\.description)
    }

    @Test func aBookingBecomesAnEventWithTheTimeInUTCAndTheSourceGiven() throws {
        let item = try Self.map(Self.appointment()).get()
        let event = try #require(item.event)
        #expect(event.kind == .appointmentBooked)
        #expect(event.nhsNumber.digits == Self.nhs)
        #expect(event.reference == "APT-1")
        #expect(event.at == Date(timeIntervalSince1970: 1_796_634_000))
        #expect(event.clinician == "Dr A Khan")
        #expect(event.source == Self.source)
        #expect(event.messageID.hasPrefix("Appointment/a1#"), "no version: the id and a digest of the resource")
    }

    @Test func statusesMapAsTheBriefSaysAndOthersAreNotDelivered() throws {
        for (status, kind) in [
            ("pending", FeedEvent.Kind.appointmentBooked), ("proposed", .appointmentBooked),
            ("cancelled", .appointmentCancelled), ("noshow", .appointmentCancelled),
            ("entered-in-error", .appointmentCancelled),
        ] {
            #expect(try Self.map(Self.appointment(["status": "\"\(status)\""])).get().event?.kind == kind, "\(status)")
        }
        let fulfilled = try Self.map(Self.appointment(["status": #""fulfilled""#])).get()
        #expect(fulfilled.event == nil && fulfilled.ignored?.contains("fulfilled") == true)
    }

    @Test func theJSONIsReadStrictly() throws {
        for (text, fault) in [
            (#"{"a": 1, "a": 2}"#, "the member 'a' is given twice"),
            (#"{"a": "\ud800"}"#, "high surrogate"),
            (#"{"a": 01}"#, "leading zero"),
            (#"{"a": 1} x"#, "text after the JSON value"),
            (String(repeating: "[", count: 65) + String(repeating: "]", count: 65), "nested deeper than 64"),
            ("{\"a\": \"\u{01}\"}", "control character"),
        ] {
            #expect(throws: FHIRJSONError.self, "\(fault)") { try FHIRJSON.parse(Array(text.utf8)) }
            do { _ = try FHIRJSON.parse(Array(text.utf8)) } catch {
                #expect(error.message.contains(fault), "\(error)")
            }
        }
        #expect(throws: FHIRJSONError.self) { try FHIRJSON.parse([0x22, 0xFF, 0x22]) }
        #expect(
            try FHIRJSON.parse(Array(#"{"a": "\ud83d\ude00", "b": [true, 1.50]}"#.utf8)).canonical
                == #"{"a":"😀","b":[true,1.50]}"#)
    }

    @Test func timesAreFHIRInstantsWithTheirZone() {
        #expect(FHIRFeedMapping.time("2026-12-07T09:00:00Z") == Date(timeIntervalSince1970: 1_796_634_000))
        #expect(FHIRFeedMapping.time("2026-12-07T10:00:00.5+01:00") == Date(timeIntervalSince1970: 1_796_634_000.5))
        for bad in ["2026-12-07T09:00:00", "2026-02-29T09:00:00Z", "2026-12-07T24:00:00Z", "2026-12", "2026-12-07"] {
            #expect(FHIRFeedMapping.time(bad) == nil, "\(bad)")
        }
        // A whole day, for an order: its start in London (BST in July).
        #expect(FHIRFeedMapping.time("2026-07-01", dateOnly: true) == Date(timeIntervalSince1970: 1_782_860_400))
    }

    @Test func eachProblemNamesItsElement() {
        #expect(Self.issues(Self.appointment(["status": ""])) == ["Appointment.status: status is required"])
        #expect(
            Self.issues(Self.appointment(["status": "null"])).first
                == "Appointment.status: null is not allowed in FHIR JSON: leave the element out")
        #expect(
            Self.issues(Self.appointment(["colour": #""blue""#])) == [
                "Appointment.colour: 'colour' is not an element of Appointment"
            ])
        #expect(
            Self.issues(Self.appointment(["start": "", "end": ""])).first?.hasPrefix("Appointment.start: app-3") == true
        )
        #expect(
            Self.issues(Self.appointment(["end": ""])).first
                == "Appointment.start: app-2: give both start and end, or neither")
        #expect(
            Self.issues(Self.appointment(["modifierExtension": #"[{"url": "x"}]"#])).first?.hasPrefix(
                "Appointment.modifierExtension") == true)
        #expect(
            Self.issues(Self.appointment(["identifier": "", "id": ""])).first?.hasPrefix(
                "Appointment.identifier: give the appointment's identifier") == true)
        let twice = Self.issues(
            Self.appointment(
                participants: """
                    [{"actor": {"type": "Patient", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", \
                    "value": "9434765918"}}, "status": "accepted"}]
                    """))
        #expect(
            twice == ["Appointment.participant[0].actor.identifier.value: NHS number 9434765918 fails its check digit"])
    }

    @Test func aContainedPatientIsFoundAndAnOrderIsRead() throws {
        let contained = Self.appointment(
            [
                "contained":
                    #"[{"resourceType": "Patient", "id": "p", "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "\#(Self.nhs)"}]}]"#
            ], participants: ##"[{"actor": {"reference": "#p"}, "status": "accepted"}]"##)
        #expect(try Self.map(contained).get().event?.nhsNumber.digits == Self.nhs)
        let order = """
            {"resourceType": "ServiceRequest", "id": "o1", "meta": {"versionId": "3"}, "status": "active", \
            "intent": "order", "identifier": [{"value": "ORD-9"}], "code": {"text": "CT head"}, \
            "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "\(Self.nhs)"}}, \
            "occurrenceDateTime": "2026-12-07T09:00:00Z", "requester": {"display": "Dr B Okafor"}}
            """
        let event = try #require(try Self.map(order, "ServiceRequest").get().event)
        #expect(event.kind == .imagingOrdered)
        #expect(event.reference == "ORD-9")
        #expect(event.procedure == "CT head")
        #expect(event.clinician == "Dr B Okafor")
        #expect(event.messageID == "ServiceRequest/o1/_history/3")
        let revoked = order.replacingOccurrences(of: #""active""#, with: #""revoked""#)
        #expect(try Self.map(revoked, "ServiceRequest").get().event?.kind == .appointmentCancelled)
        #expect(
            Self.issues(order, "Appointment") == [
                "Appointment.resourceType: 'ServiceRequest': this door takes Appointment here"
            ])
    }

    static func bundle(_ entries: [String], _ extra: String = "") -> [UInt8] {
        Array(
            (#"{"resourceType": "Bundle", "type": "history""# + extra + #", "entry": ["#
                + entries.joined(separator: ", ") + "]}").utf8)
    }

    static let status =
        #"{"resource": {"resourceType": "Parameters", "parameter": [{"name": "type", "valueCode": "event-notification"}]}}"#

    @Test func aNotificationIsReadWholeAndEachFaultNamesItsEntry() throws {
        let good = #"{"fullUrl": "urn:uuid:1", "resource": "# + Self.appointment() + "}"
        let read = try FHIRFeedMapping.notification(Self.bundle([Self.status, good]), source: Self.source).get()
        #expect(read.type == "event-notification")
        #expect(read.items.map(\.path) == ["Bundle.entry[1].resource"])
        #expect(read.items.first?.event?.source == Self.source)
        for (entries, extra, expected) in [
            (
                [Self.status, #"{"fullUrl": "urn:uuid:2"}"#], "",
                "Bundle.entry[1].resource: an entry without its resource"
            ),
            (
                [Self.status, #"{"resource": {"resourceType": "Patient", "id": "p"}}"#], "",
                "Bundle.entry[1].resource.resourceType"
            ),
            (
                [Self.status, good, #"{"request": null, "resource": {"resourceType": "Patient"}}"#], "",
                "Bundle.entry[2].request: null"
            ),
            (
                [Self.status, good], #", "timestamp": "2026-12-05""#,
                "Bundle.timestamp: '2026-12-05' is not a FHIR instant"
            ),
            ([good], "", "Bundle.entry[0].resource.resourceType: the first entry must be the notification's status"),
            ([Self.status], "", "Bundle.entry: an event notification that carries no Appointment or ServiceRequest"),
        ] {
            guard
                case .failure(let found) = FHIRFeedMapping.notification(
                    Self.bundle(entries, extra), source: Self.source)
            else {
                Issue.record("accepted: \(expected)")
                continue
            }
            #expect(found.issues.first?.description.hasPrefix(expected) == true, "\(found.issues)")
        }
    }
}
