public import Foundation
public import TrustMeshModel
import TrustMeshStore

/// An emergency care relationship this node recorded, or served a study under, with its uses and
/// reviews as this node's audit log records them: one line of the information governance review.
public struct EmergencyAccess: Sendable, Hashable {
    /// Where the relationship was seen.
    public enum Side: String, Sendable, Hashable {
        /// This trust recorded it (its clinician's emergency access to other trusts' imaging).
        case recordedHere
        /// Another trust presented it, and this trust served a study under it.
        case servedHere
    }

    /// One use of the relationship, as this node's log records it.
    public struct Use: Sendable, Hashable {
        /// `fetchRequested` (this trust asked under it) or `fetchServed` (this trust shared under it).
        public var kind: AuditEntry.Kind
        /// The entry's sequence number in this node's log.
        public var sequence: UInt64
        /// When, `YYYY-MM-DDTHH:MM:SSZ`.
        public var time: String
        /// The other trust.
        public var peer: String?
        /// The study.
        public var studyUID: String?
    }

    /// One review, as this node's log records it (`emergencyReviewed`).
    public struct Review: Sendable, Hashable {
        /// The entry's sequence number in this node's log.
        public var sequence: UInt64
        /// When, `YYYY-MM-DDTHH:MM:SSZ`.
        public var time: String
        /// The reviewer's display name.
        public var reviewer: String
        /// The reviewer's note, if any.
        public var note: String?
    }

    /// The relationship, as signed by its trust (with its justification).
    public var care: CareRelationship
    /// Whether this trust recorded it or served under it.
    public var side: Side
    /// Its uses here, oldest first.
    public var uses: [Use]
    /// Its reviews here, oldest first.
    public var reviews: [Review]

    /// Whether it has been reviewed since it was last used (or at all, if it was never used).
    public var isReviewed: Bool {
        guard let last = reviews.last else { return false }
        guard let used = uses.last else { return true }
        return last.sequence > used.sequence
    }
}

extension LocalNode {
    /// The emergency care relationships this trust recorded or served a study under, newest first,
    /// each with its uses and reviews from this node's audit log: the information governance
    /// review list. An emergency relationship another trust presented but was refused is not listed
    /// (nothing was shared under it; the refusal is in the audit trail).
    public func emergencyAccesses() throws -> [EmergencyAccess] {
        var accesses: [String: EmergencyAccess] = [:]
        for care in try store.care.all(kind: .emergency) {
            accesses[care.id] = EmergencyAccess(care: care, side: .recordedHere, uses: [], reviews: [])
        }
        let decoder = JSONDecoder()
        for entry in try store.audit.entries(kinds: [.fetchRequested, .fetchServed, .emergencyReviewed]) {
            guard let id = entry[.careID] else { continue }
            switch entry.kind {
            case .emergencyReviewed:
                accesses[id]?.reviews.append(
                    .init(sequence: entry.sequence, time: entry.time, reviewer: entry.actor, note: entry.details))
            case .fetchServed:
                guard entry[.careKind] == CareRelationship.Kind.emergency.rawValue else { continue }
                if accesses[id] == nil,
                    let care = try? decoder.decode(CareRelationship.self, from: Data((entry.details ?? "").utf8))
                {
                    accesses[id] = EmergencyAccess(care: care, side: .servedHere, uses: [], reviews: [])
                }
                accesses[id]?.uses.append(Self.use(entry))
            default:
                accesses[id]?.uses.append(Self.use(entry))
            }
        }
        return accesses.values.sorted { ($0.care.start, $0.care.id) > ($1.care.start, $1.care.id) }
    }

    /// Records that an information governance reviewer has reviewed an emergency care relationship's
    /// use, as `emergencyReviewed` (subject `careID`, `careKind`, `nhsNumber`, and `peer` when
    /// another trust recorded it; details the note). The replay stops reporting the access as
    /// awaiting review once the review follows its last use.
    /// - Parameters:
    ///   - careID: The relationship, one of ``emergencyAccesses()``.
    ///   - person: The signed-in reviewer, whose role must be held at this trust.
    ///   - session: The reviewer's short session handle.
    ///   - note: What the reviewer found, if anything (at most 1000 characters).
    /// - Returns: The access, with the review.
    /// - Throws: ``CareInputError`` (`careID:`, `reviewer:`, `note:`) if the relationship is not an
    ///   emergency recorded or served here, the reviewer is another trust's, or the note is too long.
    @discardableResult
    public func reviewEmergency(careID: String, by person: Person, session: String? = nil, note: String? = nil)
        throws -> EmergencyAccess
    {
        guard person.organisation == configuration.trust else {
            throw CareInputError(
                description: "reviewer: the signed-in role is held at \(person.organisation), not at "
                    + "\(configuration.trust)")
        }
        let text = note?.trimmingCharacters(in: .whitespacesAndNewlines)
        let kept = text?.isEmpty == false ? text : nil
        if let kept, kept.count > 1000 { throw CareInputError(description: "note: at most 1000 characters") }
        guard let access = try emergencyAccesses().first(where: { $0.care.id == careID }) else {
            throw CareInputError(
                description: "careID: no emergency care relationship \(careID.prefix(36)) was recorded or served here")
        }
        var subject: [AuditEntry.SubjectKey: String] = [
            .careID: careID, .careKind: access.care.kind.rawValue, .nhsNumber: access.care.nhsNumber.digits,
        ]
        if access.care.trust != configuration.trust { subject[.peer] = access.care.trust.code }
        try audit(.emergencyReviewed, actor: .person(person, session: session), subject: subject, details: kept)
        return try emergencyAccesses().first { $0.care.id == careID } ?? access
    }

    private static func use(_ entry: AuditEntry) -> EmergencyAccess.Use {
        .init(
            kind: entry.kind, sequence: entry.sequence, time: entry.time, peer: entry[.peer],
            studyUID: entry[.studyUID])
    }
}
