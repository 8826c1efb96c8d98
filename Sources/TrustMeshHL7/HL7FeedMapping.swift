public import Foundation
public import TrustMeshModel

/// What an HL7 v2 message means for the node, as a pure function of the message: a ``FeedEvent``,
/// nothing (a message type the node does not use, acknowledged AA), or an ``HL7Error`` naming the
/// fault (docs/ARCHITECTURE.md, "HL7 v2 feed (issue 18)", has the table).
///
/// | message | event | reference | time | place | clinician | procedure |
/// |---|---|---|---|---|---|---|
/// | SIU^S12/S13/S14/S15 | appointmentBooked/Rescheduled/Modified/Cancelled | SCH-1, else SCH-2 | AIS-4, else SCH-11.4 | AIL-3 | AIP-3, else PV1-7 | |
/// | ADT^A01/A04/A05 | admitted/registered/preAdmitted | PV1-19 | PV1-44 | PV1-3 | PV1-7 | |
/// | ORM^O01, OMI^O23 | imagingOrdered | ORC-2, else ORC-3 | TQ1-7, else OBR-27.4, else OBR-36 | | ORC-12, else OBR-16 | OBR-4 (OMI: IPC-5, else OBR-4) |
public enum HL7FeedMapping {
    /// What a message means.
    public enum Outcome: Sendable, Hashable {
        /// An event for the pre-fetch rules.
        case event(FeedEvent)
        /// A message type the node does not use (`ADT^A08`, `ORU^R01`…): acknowledged AA, not
        /// delivered.
        case ignored(String)
    }

    /// The events of each message type the node uses, by `TYPE^TRIGGER`.
    public static let kinds: [String: FeedEvent.Kind] = [
        "SIU^S12": .appointmentBooked, "SIU^S13": .appointmentRescheduled, "SIU^S14": .appointmentModified,
        "SIU^S15": .appointmentCancelled, "ADT^A01": .admitted, "ADT^A04": .registered, "ADT^A05": .preAdmitted,
        "ORM^O01": .imagingOrdered, "OMI^O23": .imagingOrdered,
    ]

    /// Maps a message.
    /// - Parameters:
    ///   - message: The message, read.
    ///   - source: The feed, as the audit names the actor: ``source(of:address:)``.
    ///   - timeZone: The zone of times without an offset (the trust's: Europe/London).
    /// - Throws: ``HL7Error`` (AE) naming the segment and field at fault.
    public static func map(
        _ message: HL7Message, source: String, timeZone: TimeZone = HL7DateTime.london
    ) throws(HL7Error) -> Outcome {
        let type = (message.messageType ?? "") + "^" + (message.triggerEvent ?? "")
        guard let kind = kinds[type] else { return .ignored(type) }
        let nhsNumber = try Self.nhsNumber(message)
        var event = FeedEvent(kind: kind, nhsNumber: nhsNumber, source: source, messageID: message.controlID ?? "")
        let pv1 = message["PV1"]
        switch message.messageType {
        case "SIU":
            guard let sch = message["SCH"] else { throw .invalid("SCH", code: "100", "segment missing") }
            event.reference = sch.value(1) ?? sch.value(2)
            if let ais = message.all("AIS").first(where: { $0.value(4) != nil }) {
                event.at = try time(ais.value(4)!, "AIS-4", "appointment time", timeZone)
            } else if let start = sch.value(11, component: 4) {
                event.at = try time(start, "SCH-11", "appointment time", timeZone)
            }
            event.place = message.all("AIL").lazy.compactMap { place($0.repetitions(3).first) }.first
            event.clinician =
                message.all("AIP").lazy.compactMap { person($0.repetitions(3).first) }.first
                ?? person(pv1?.repetitions(7).first)
        case "ADT":
            guard let pv1 else { throw .invalid("PV1", code: "100", "segment missing") }
            event.reference = pv1.value(19)
            if let admitted = pv1.value(44) { event.at = try time(admitted, "PV1-44", "admission time", timeZone) }
            event.place = place(pv1.repetitions(3).first)
            event.clinician = person(pv1.repetitions(7).first)
        default:
            guard let orc = message["ORC"] else { throw .invalid("ORC", code: "100", "segment missing") }
            let obr = message["OBR"]
            event.reference = orc.value(2) ?? orc.value(3)
            guard event.reference != nil else {
                throw .invalid("ORC-2/ORC-3", code: "101", "no placer or filler order number")
            }
            if let start = message["TQ1"]?.value(7) {
                event.at = try time(start, "TQ1-7", "order time", timeZone)
            } else if let start = obr?.value(27, component: 4) {
                event.at = try time(start, "OBR-27", "order time", timeZone)
            } else if let scheduled = obr?.value(36) {
                event.at = try time(scheduled, "OBR-36", "scheduled time", timeZone)
            }
            event.clinician = person(orc.repetitions(12).first) ?? person(obr?.repetitions(16).first)
            let code = obr.flatMap { $0.value(4) ?? $0.value(4, component: 2) }
            if message.messageType == "OMI", let ipc = message["IPC"] {
                event.procedure = ipc.value(5) ?? ipc.value(5, component: 2) ?? code
            } else {
                event.procedure = code
            }
        }
        return .event(event)
    }

    /// The actor a feed's events are audited under: `HL7 v2 <MSH-3>^<MSH-4> from <address>`.
    public static func source(of message: HL7Message, address: String) -> String {
        "HL7 v2 \(message.sender) from \(address)"
    }

    /// The patient's NHS number: the PID-3 repetition whose identifier type (CX-5) is `NH` and
    /// whose assigning authority (CX-4) is `NHS` or carries the NHS number OID.
    /// - Throws: ``HL7Error`` (AE) when there is no PID, no such repetition, or its number is invalid.
    public static func nhsNumber(_ message: HL7Message) throws(HL7Error) -> NHSNumber {
        guard let pid = message["PID"] else { throw .invalid("PID", code: "100", "segment missing") }
        let candidate = pid.repetitions(3).first { cx in
            guard cx.value(5)?.uppercased() == "NH" else { return false }
            let namespace = cx.value(4, 1)?.uppercased()
            let universal = cx.value(4, 2)
            return namespace == "NHS" || namespace == NHSNumber.issuerOID || universal == NHSNumber.issuerOID
        }
        guard let candidate, let text = candidate.value(1) else {
            throw .invalid("PID-3", code: "204", "no NHS number (identifier type NH, assigning authority NHS)")
        }
        let digits = text.filter { $0 != " " && $0 != "-" }
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw .invalid("PID-3", "NHS number \(text) has characters other than digits")
        }
        guard digits.count == 10 else {
            throw .invalid("PID-3", "NHS number \(text) has \(digits.count) digits, not 10")
        }
        do {
            return try NHSNumber(digits)
        } catch {
            throw .invalid("PID-3", "NHS number \(digits) fails its check digit")
        }
    }

    private static func time(
        _ text: String, _ location: String, _ what: String, _ zone: TimeZone
    ) throws(HL7Error) -> Date {
        guard let date = HL7DateTime.parse(text, timeZone: zone) else {
            throw .invalid(location, "\(what) \(text) is not a valid HL7 date/time (YYYYMMDD[HHMM[SS]][+/-ZZZZ])")
        }
        return date
    }

    /// A person (XCN): prefix, given name, middle, family name (`Dr A Khan`), else the ID.
    static func person(_ value: HL7Value?) -> String? {
        guard let value else { return nil }
        let name = [value[6], value[3], value[4], value[2]].compactMap { $0 }.joined(separator: " ")
        return name.isEmpty ? value[1] : name
    }

    /// A place (PL): the point of care, else the location description, else the facility.
    static func place(_ value: HL7Value?) -> String? {
        guard let value else { return nil }
        return value[1] ?? value[9] ?? value[4]
    }
}
