public import Foundation
public import TrustMeshModel
import TrustMeshStore

extension LocalNode {
    /// The details of a `feedReceived` entry: the event, without the patient (the subject) and the
    /// actor (the entry's), and how it came.
    private struct FeedDetails: Encodable {
        var kind: String
        var reference: String?
        var at: String?
        var place: String?
        var clinician: String?
        var procedure: String?
        var messageID: String
        var messageType: String
        var resource: String?
    }

    /// Audits an event a feed door accepted, as `feedReceived`, before it is handed on: the feed
    /// the actor (or `actor`: the signed-in person who uploaded a list), the patient the subject, the
    /// event in the details as JSON (the clinician it names is data there).
    /// - Parameters:
    ///   - messageType: how it came (`SIU^S12`, `FHIR Appointment`, `clinic list`).
    ///   - resource: the FHIR resource it was read from, if any.
    ///   - peer: the sending address, if the door knows it.
    package func auditFeedReceived(
        _ event: FeedEvent, actor: Actor? = nil, messageType: String, resource: String? = nil, peer: String? = nil
    ) throws {
        let details = FeedDetails(
            kind: event.kind.rawValue, reference: event.reference, at: event.at.map(CareTime.format),
            place: event.place, clinician: event.clinician, procedure: event.procedure, messageID: event.messageID,
            messageType: messageType, resource: resource)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var subject: [AuditEntry.SubjectKey: String] = [.nhsNumber: event.nhsNumber.digits]
        if let peer { subject[.peer] = peer }
        try audit(
            .feedReceived, actor: actor ?? .system(event.source), subject: subject,
            details: String(decoding: try encoder.encode(details), as: UTF8.self))
    }

    /// The issuer a care relationship names when its clinician came from a hospital feed rather
    /// than from the trust's identity provider: holders see where the name came from.
    public static let feedClinicianIssuer = "urn:trustmesh:feed"

    /// Records, signed by this node, the care relationship a feed event is evidence of, for a
    /// pre-fetch: its kind from the event (an appointment or a clinic list: outpatient; an
    /// admission: admission; an MDT list: MDT; a registration or an order: referral), started now,
    /// with the network policy's cap for its kind as its only expiry.
    ///
    /// The feed is the actor (a named system, ``FeedEvent/source``); the clinician the message
    /// named is data: the relationship's clinician identity has the issuer ``feedClinicianIssuer``,
    /// the clinician's name as subject and name (or `not named by <feed>`), no role, and this trust,
    /// so a holder can tell it from a signed-in clinician's. Audited as `careAdded` with the feed
    /// as the actor (the relationship's JSON in the details shows the feed's issuer).
    /// - Parameters:
    ///   - event: What the feed said.
    ///   - rule: The pre-fetch rule that applied, for the relationship's reason.
    ///   - now: The start of care.
    /// - Returns: The signed relationship, stored.
    public func addFeedCare(for event: FeedEvent, rule: String, now: Date = Date()) throws -> CareRelationship {
        let named = event.clinician?.trimmingCharacters(in: .whitespacesAndNewlines)
        let name = String(((named?.isEmpty == false ? named : nil) ?? "not named by \(event.source)").prefix(128))
        let clinician = Person(
            issuer: Self.feedClinicianIssuer, subject: name, name: name, roleCode: "",
            organisation: configuration.trust,
            registration: nil)
        var reason = "Pre-fetch (\(rule)): \(event.kind.rawValue)"
        if let place = event.place { reason += " at \(place)" }
        if let reference = event.reference { reason += ", \(reference)" }
        let draft = CareRelationship.Draft(
            id: UUID().uuidString.lowercased(), trust: configuration.trust, nhsNumber: event.nhsNumber,
            clinician: name, clinicianIdentity: clinician, kind: event.kind.careKind,
            reason: String(reason.prefix(500)), start: CareTime.format(now), expiry: nil, justification: nil)
        let care = draft.signed(by: try signingKey())
        try store.care.add(care)
        try audit(
            .careAdded, actor: .system(event.source),
            subject: [.careID: care.id, .nhsNumber: care.nhsNumber.digits, .careKind: care.kind.rawValue],
            details: Self.auditJSON(care))
        return care
    }
}
