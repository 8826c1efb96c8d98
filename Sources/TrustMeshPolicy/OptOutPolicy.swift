public import Foundation
public import TrustMeshModel

/// Which trusts may record a patient's opt-out, and which opt-out record (or withdrawal) is in force.
///
/// Every node, and the CLI before it signs one, calls ``decide(_:policy:)`` on the records it holds
/// for the patient, so it is pure: no I/O, no clock. The records must have been verified against
/// their origins' pinned keys (gossip and the index table do so before storing one).
///
/// ## Who may record one
///
/// An opt-out or withdrawal record from origin O for NHS number N is **accepted** when, judged from
/// the records this node holds:
///
/// 1. its issue time reads as `YYYY-MM-DDTHH:MM:SSZ` (else ``Refusal/unreadableTime``);
/// 2. a withdrawal carries a statement, and a statement's fields are in their forms (else
///    ``Refusal/malformedStatement``);
/// 3. and either O **held imaging** for N when it signed the record: among O's records for N with a
///    lower sequence, some study's latest record is a `study` record (not withdrawn); or the record
///    carries a **current care relationship**: recorded by O, for N, naming a clinician verified by
///    O's sign-in (`SharingPolicy.isVerified`), and current at the record's issue time under the
///    network's caps (`SharingPolicy.isCurrent`). Otherwise ``Refusal/noImagingOrCare``, or
///    ``Refusal/careNotValid`` when the relationship it carries fails.
///
/// Gossip stores each origin's records contiguously, so when O's record is held every earlier record
/// of O is held too, and the care relationship travels inside the record (signed with it): the
/// judgement needs nothing that could arrive later, and every node reaches the same one. Nodes do not
/// keep the judgement: it is made again from the stored records each time the state is asked for.
///
/// ## Which one is in force
///
/// Of the accepted records, the one with the latest issue time decides: an opt-out means opted out,
/// a withdrawal means not. Equal times are broken by the greater origin code (byte order of the ODS
/// code), then the greater sequence. No accepted record: not opted out.
public enum OptOutPolicy {
    /// Why an opt-out record (or a withdrawal) is not applied. The raw values are stable: they are
    /// written to audit logs and shown on the information governance page.
    public enum Refusal: String, Sendable, Codable, CaseIterable {
        /// The issue time is not `YYYY-MM-DDTHH:MM:SSZ`.
        case unreadableTime
        /// A withdrawal without a statement, or a statement whose fields are out of form.
        case malformedStatement
        /// The origin had announced no imaging for the patient and carries no care relationship.
        case noImagingOrCare
        /// The care relationship carried is not the origin's, not for the patient, names no verified
        /// clinician, or was not current when the record was issued.
        case careNotValid

        /// What was wrong, in words for the information governance page and the audit log.
        public var explanation: String {
            switch self {
            case .unreadableTime: "its issue time cannot be read"
            case .malformedStatement: "it does not say who recorded it and where the patient's wish is written"
            case .noImagingOrCare:
                "its trust holds no imaging for the patient and presented no current care relationship"
            case .careNotValid:
                "the care relationship it presents is not its own current one for this patient, with a "
                    + "verified clinician"
            }
        }
    }

    /// One opt-out record or withdrawal and how it was judged.
    public struct Judged: Sendable, Hashable {
        /// The record.
        public var record: IndexRecord
        /// Why it is not applied; `nil` if it is accepted.
        public var refusal: Refusal?
    }

    /// The patient's opt-out state.
    public struct Decision: Sendable, Hashable {
        /// Whether the patient is opted out.
        public var optedOut: Bool
        /// The accepted record that decides, if any.
        public var deciding: IndexRecord?
        /// Every opt-out record and withdrawal for the patient, judged, ordered by origin and sequence.
        public var judged: [Judged]
    }

    /// Decides a patient's opt-out state from the records held for them.
    /// - Parameters:
    ///   - records: Every verified record for the patient (their studies, opt-outs and withdrawals),
    ///     from every origin, in any order. Records for other patients are ignored.
    ///   - policy: The network's policy (its care caps and clock skew).
    /// - Returns: The state, the deciding record and every opt-out record judged.
    public static func decide(_ records: [IndexRecord], policy: NetworkPolicy = NetworkPolicy()) -> Decision {
        let judged = records.filter(\.kind.isOptOutKind).sorted { ($0.origin, $0.sequence) < ($1.origin, $1.sequence) }
            .map { Judged(record: $0, refusal: refusal(of: $0, among: records, policy: policy)) }
        let deciding = judged.filter { $0.refusal == nil }.map(\.record).max { a, b in
            (CareTime.unixSeconds(a.issuedAt) ?? 0, a.origin.code, a.sequence)
                < (CareTime.unixSeconds(b.issuedAt) ?? 0, b.origin.code, b.sequence)
        }
        return Decision(optedOut: deciding?.kind == .optOut, deciding: deciding, judged: judged)
    }

    /// Why one opt-out record or withdrawal is not applied, or `nil` if it is (rules 1–3 above).
    /// - Parameters:
    ///   - record: The record, of kind `optOut` or `optOutWithdrawn`.
    ///   - records: The records held for the patient (the origin's earlier ones among them).
    ///   - policy: The network's policy.
    public static func refusal(of record: IndexRecord, among records: [IndexRecord], policy: NetworkPolicy)
        -> Refusal?
    {
        guard let seconds = CareTime.unixSeconds(record.issuedAt) else { return .unreadableTime }
        if record.kind == .optOutWithdrawn, record.statement == nil { return .malformedStatement }
        if record.statement?.formProblem != nil { return .malformedStatement }
        if heldImaging(record.origin, for: record.nhsNumber, before: record.sequence, in: records) { return nil }
        guard let care = record.statement?.care else { return .noImagingOrCare }
        let issued = Date(timeIntervalSince1970: TimeInterval(seconds))
        guard care.trust == record.origin, care.nhsNumber == record.nhsNumber, SharingPolicy.isVerified(care),
            SharingPolicy.isCurrent(care, now: issued, policy: policy)
        else { return .careNotValid }
        return nil
    }

    /// Whether `origin`'s records for the patient below `sequence` list a study (its latest record
    /// among them is a `study` record).
    private static func heldImaging(
        _ origin: TrustID, for nhs: NHSNumber, before sequence: UInt64, in records: [IndexRecord]
    ) -> Bool {
        var latest: [String: IndexRecord] = [:]
        for record in records
        where record.origin == origin && record.nhsNumber == nhs && record.sequence < sequence
            && (record.kind == .study || record.kind == .withdrawn)
        {
            guard let uid = record.studyUID else { continue }
            if let current = latest[uid], current.sequence > record.sequence { continue }
            latest[uid] = record
        }
        return latest.values.contains { $0.kind == .study }
    }
}
