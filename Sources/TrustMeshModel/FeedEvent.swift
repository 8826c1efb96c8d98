public import Foundation

/// What one of the hospital's own systems said about a patient that may call for their prior
/// imaging: an appointment booked, moved or cancelled, an admission, an imaging order, a place on
/// a clinic or MDT list.
///
/// Every feed door (HL7 v2 over MLLP, FHIR `Appointment`/`ServiceRequest`, a clinic list uploaded
/// on the page) turns what it accepts into these, and the pre-fetch rules decide what to do with
/// them. The feed is the actor (a named system, ``source``); the clinician a message names is data
/// (``clinician``), never a signed-in person.
///
/// ```swift
/// let event = FeedEvent(
///     kind: .appointmentBooked, nhsNumber: try NHSNumber("9434765919"), reference: "APT-2041",
///     at: tomorrowAtNine, place: "Fracture clinic", clinician: "Dr A Khan",
///     source: "HL7 v2 PAS^RRK from 127.0.0.1", messageID: "MSG00042")
/// ```
public struct FeedEvent: Sendable, Codable, Hashable {
    /// What happened.
    public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
        /// An appointment was booked (HL7 SIU^S12, FHIR Appointment `booked`/`proposed`/`pending`).
        case appointmentBooked
        /// An appointment was moved to another time (SIU^S13).
        case appointmentRescheduled
        /// An appointment's details changed (SIU^S14).
        case appointmentModified
        /// An appointment was cancelled (SIU^S15, FHIR Appointment `cancelled`/`noshow`).
        case appointmentCancelled
        /// The patient was admitted (ADT^A01).
        case admitted
        /// The patient was registered, e.g. as an outpatient or in the emergency department (ADT^A04).
        case registered
        /// The patient was pre-admitted (ADT^A05).
        case preAdmitted
        /// Imaging was ordered (ORM^O01, OMI^O23, FHIR ServiceRequest).
        case imagingOrdered
        /// The patient is on a clinic list a clinician uploaded.
        case clinicListed
        /// The patient is on a multidisciplinary team meeting's list a clinician uploaded.
        case mdtListed

        /// Whether the event withdraws what an earlier one with the same reference asked for.
        public var cancels: Bool { self == .appointmentCancelled }

        /// The kind of care relationship this event is evidence of.
        public var careKind: CareRelationship.Kind {
            switch self {
            case .appointmentBooked, .appointmentRescheduled, .appointmentModified, .appointmentCancelled,
                .clinicListed:
                .outpatient
            case .mdtListed: .mdt
            case .admitted, .preAdmitted: .admission
            case .registered, .imagingOrdered: .referral
            }
        }
    }

    /// What happened.
    public var kind: Kind
    /// The patient.
    public var nhsNumber: NHSNumber
    /// The sender's identifier for the appointment, order or list entry (SCH-1/SCH-2, ORC-2/ORC-3,
    /// the FHIR resource's id, the list's row): a later reschedule or cancellation names the same.
    public var reference: String?
    /// When the appointment, admission or meeting is (UTC); `nil` when the message gives no time.
    public var at: Date?
    /// The clinic, ward, department or meeting, as the sender names it.
    public var place: String?
    /// The clinician the message names (data from the feed, not a signed-in person).
    public var clinician: String?
    /// For an order: the modality or procedure asked for, as the sender codes it.
    public var procedure: String?
    /// The feed that said it, as the audit names the actor: e.g. `HL7 v2 PAS^RRK from 127.0.0.1`.
    public var source: String
    /// The sender's identifier of the message (MSH-10, the FHIR resource version, the upload's id),
    /// so that a message sent twice is recognised.
    public var messageID: String

    /// An event.
    public init(
        kind: Kind, nhsNumber: NHSNumber, reference: String? = nil, at: Date? = nil, place: String? = nil,
        clinician: String? = nil, procedure: String? = nil, source: String, messageID: String
    ) {
        self.kind = kind
        self.nhsNumber = nhsNumber
        self.reference = reference
        self.at = at
        self.place = place
        self.clinician = clinician
        self.procedure = procedure
        self.source = source
        self.messageID = messageID
    }
}
