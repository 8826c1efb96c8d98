public import TrustMeshModel

/// One thing the replay found that an auditor must look at: a share the policy would not allow, a
/// fetch only one side logged, a log that is incomplete or disagrees with a checkpoint, an emergency
/// access awaiting review, a care relationship never used, or a person recording too many.
///
/// ``message`` explains it in words, naming trusts, sequence numbers, study UIDs and transfer ids;
/// NHS numbers appear only masked (`*** *** 5919`).
public struct AuditFinding: Sendable, Hashable, Codable {
    /// What kind of problem it is. An open set: new kinds may be added; raw values never change.
    public struct Kind: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
        /// The kind's name, e.g. `servedOptedOut`.
        public let rawValue: String

        /// A kind by name.
        /// - Parameter rawValue: The name.
        public init(rawValue: String) { self.rawValue = rawValue }

        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        /// A `fetchServed` that `SharingPolicy.decide`, re-run on the recorded care relationship,
        /// the study's patient and the time, refuses (for a reason other than an opt-out).
        public static let servedWithoutValidCare = Kind(rawValue: "servedWithoutValidCare")
        /// A `fetchServed` of a patient who had opted out, as the logs knew at that time.
        public static let servedOptedOut = Kind(rawValue: "servedOptedOut")
        /// A transfer the holder logged as served that the requester never logged completing or
        /// abandoning, or the reverse.
        public static let unmatchedFetch = Kind(rawValue: "unmatchedFetch")
        /// Entries missing from a trust's log.
        public static let sequenceGap = Kind(rawValue: "sequenceGap")
        /// A checkpoint the trust signed that its log contradicts (truncated or rewritten), or a
        /// checkpoint attributed to the trust that it did not sign.
        public static let checkpointMismatch = Kind(rawValue: "checkpointMismatch")
        /// An entry that is not authentic (bad hash or signature, spliced from another trust), out of
        /// place, or a log that cannot be checked at all (no pinned key).
        public static let chainInvalid = Kind(rawValue: "chainInvalid")
        /// An entry signed with a key its trust revoked, dated at or after the revocation's `since`
        /// (found when the logs are checked against a network's statements): not believed, whoever
        /// made it. The message names the revocation (reason, since, signer).
        public static let revokedKey = Kind(rawValue: "revokedKey")
        /// An emergency care relationship used for a fetch or a share with no `emergencyReviewed`
        /// entry for it at or after its last use.
        public static let emergencyAwaitingReview = Kind(rawValue: "emergencyAwaitingReview")
        /// A care relationship recorded but never used for a fetch or a share in the logs given.
        public static let careNeverUsed = Kind(rawValue: "careNeverUsed")
        /// A person who recorded more care relationships in one UTC day than the network policy's
        /// `maxCareRecordsPerPersonPerDay`.
        public static let tooManyCareRecords = Kind(rawValue: "tooManyCareRecords")
    }

    /// What kind of problem it is.
    public var kind: Kind
    /// The trust whose log holds the entry in question.
    public var trust: TrustID
    /// The entry in question (or the checkpointed sequence), if any.
    public var sequence: UInt64?
    /// The entry's time, if any.
    public var time: String?
    /// The other trust involved, if any.
    public var peer: TrustID?
    /// The study involved, if any.
    public var studyUID: String?
    /// The transfer involved, if any.
    public var transferID: String?
    /// The policy rule that failed (`PolicyRule` raw value), or the failed chain check.
    public var rule: String?
    /// The finding in words.
    public var message: String

    /// A finding.
    /// - Parameters:
    ///   - kind: What kind of problem it is.
    ///   - trust: The trust whose log holds the entry.
    ///   - sequence: The entry, if any.
    ///   - time: Its time, if any.
    ///   - peer: The other trust involved.
    ///   - studyUID: The study involved.
    ///   - transferID: The transfer involved.
    ///   - rule: The rule or check that failed.
    ///   - message: The finding in words, with NHS numbers masked.
    public init(
        kind: Kind, trust: TrustID, sequence: UInt64? = nil, time: String? = nil, peer: TrustID? = nil,
        studyUID: String? = nil, transferID: String? = nil, rule: String? = nil, message: String
    ) {
        self.kind = kind
        self.trust = trust
        self.sequence = sequence
        self.time = time
        self.peer = peer
        self.studyUID = studyUID
        self.transferID = transferID
        self.rule = rule
        self.message = message
    }
}
