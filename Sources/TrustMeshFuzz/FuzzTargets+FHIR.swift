import TrustMeshFHIR
import TrustMeshModel

extension FuzzTargets {
    // MARK: FHIR R4 feed (the FHIR door's bodies)

    /// Reads the bytes as the FHIR feed door does: strict JSON (``FHIRJSON``), then as an
    /// Appointment, a ServiceRequest and a Subscription notification (``FHIRFeedMapping``). A value
    /// the reader accepts, written back (`canonical`), must read as itself; a refusal must name at
    /// least one problem; an accepted resource is of the type asked for, is either delivered or
    /// ignored, and its event names the source the door gave, never one from the body.
    static func fhir(_ bytes: [UInt8]) {
        if let value = try? FHIRJSON.parse(bytes) {
            guard let again = try? FHIRJSON.parse(Array(value.canonical.utf8)), again == value else {
                violated("a FHIR JSON value written back does not read as itself")
            }
        }
        let source = "FHIR R4 system fuzz"
        for type in ["Appointment", "ServiceRequest"] {
            switch FHIRFeedMapping.resource(bytes, expected: type, source: source) {
            case .success(let item):
                guard item.resourceType == type else { violated("a FHIR resource accepted as another type") }
                check(item, source: source)
            case .failure(let found):
                if found.issues.isEmpty { violated("a FHIR resource refused naming no problem") }
            }
        }
        switch FHIRFeedMapping.notification(bytes, source: source) {
        case .success(let notification):
            for item in notification.items { check(item, source: source) }
        case .failure(let found):
            if found.issues.isEmpty { violated("a FHIR notification refused naming no problem") }
        }
    }

    private static func check(_ item: FHIRFeedItem, source: String) {
        guard (item.event == nil) != (item.ignored == nil) else {
            violated("a FHIR resource accepted is neither delivered nor ignored, or both")
        }
        if let event = item.event, event.source != source { violated("a FHIR feed event names another source") }
    }

    /// An Appointment, one with a contained Patient, a ServiceRequest, a backport notification, and
    /// faults the door names.
    static func fhirSeeds() throws -> [[UInt8]] {
        let nhs = #"{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}"#
        let appointment = """
            {"resourceType": "Appointment", "id": "apt-1", "meta": {"versionId": "2", \
            "lastUpdated": "2026-12-05T12:00:00.000+00:00"}, "identifier": [{"system": "https://pas.example/a", \
            "value": "APT-1"}], "status": "booked", "start": "2026-12-07T09:00:00Z", "end": "2026-12-07T09:15:00Z", \
            "serviceType": [{"coding": [{"code": "110", "display": "Trauma"}], "text": "Fracture clinic"}], \
            "basedOn": [{"display": "Referral 7"}], "participant": [{"actor": {"type": "Patient", \
            "identifier": \(nhs)}, "status": "accepted"}, {"actor": {"reference": "Practitioner/C1", \
            "display": "Dr A Khan"}, "status": "accepted"}, {"actor": {"reference": "Location/L1", \
            "display": "Plaster room"}, "status": "accepted"}], "_status": {"extension": [{"url": "x"}]}}
            """
        let contained = """
            {"resourceType": "Appointment", "identifier": [{"value": "APT-2"}], "status": "cancelled", \
            "contained": [{"resourceType": "Patient", "id": "p", "identifier": [\(nhs)]}, \
            {"resourceType": "Practitioner", "id": "d", "name": [{"prefix": ["Dr"], "given": ["Ann"], \
            "family": "Brown"}]}], "participant": [{"actor": {"reference": "#p"}, "status": "accepted"}, \
            {"actor": {"reference": "#d"}, "status": "needs-action"}, {"type": [{"text": "interpreter"}], \
            "status": "tentative"}]}
            """
        let order = """
            {"resourceType": "ServiceRequest", "id": "o1", "status": "active", "intent": "order", \
            "identifier": [{"value": "ORD-9"}], "code": {"coding": [{"system": "http://snomed.info/sct", \
            "code": "169069000"}], "text": "CT chest"}, "subject": {"identifier": \(nhs)}, \
            "occurrenceDateTime": "2026-12-07", "authoredOn": "2026-12-05T10:00:00+01:00", \
            "requester": {"display": "Dr B Okafor"}, "locationCode": [{"text": "CT 2"}], "quantityQuantity": \
            {"value": 1.50e0}}
            """
        let notification = """
            {"resourceType": "Bundle", "type": "history", "entry": [{"resource": {"resourceType": "Parameters", \
            "parameter": [{"name": "status", "valueCode": "active"}, {"name": "type", "valueCode": \
            "event-notification"}]}}, {"fullUrl": "urn:uuid:1", "resource": \(appointment)}, \
            {"resource": \(order)}]}
            """
        let handshake = """
            {"resourceType": "Bundle", "type": "subscription-notification", "entry": [{"resource": \
            {"resourceType": "SubscriptionStatus", "status": "requested", "type": "handshake"}}]}
            """
        let faults = [
            #"{"resourceType": "Appointment", "status": "booked", "status": "cancelled"}"#,
            #"{"resourceType": "Appointment", "start": "2026-02-30T09:00:00Z", "participant": [], "x": null}"#,
            #"{"resourceType": "ServiceRequest", "subject": {"reference": "Patient/1"}, "modifierExtension": [{}]}"#,
            #"{"a": "\ud83d\ude00\u0000\n", "b": [-0.0e+1, true, false, null, {}], "c": "\ud800"}"#,
        ]
        return ([appointment, contained, order, notification, handshake] + faults).map { Array($0.utf8) }
    }
}
