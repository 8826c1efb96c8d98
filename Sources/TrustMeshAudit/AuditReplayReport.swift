public import TrustMeshModel

/// What ``AuditReplay`` rebuilt from several trusts' logs: a summary per trust, the merged timeline,
/// the findings, and notes on what could not be checked.
///
/// `Codable` for `trustmesh audit replay --json`. Subject values that are NHS numbers are masked
/// (`*** *** 5919`) in the timeline, so the report can be shared more widely than the logs.
public struct AuditReplayReport: Sendable, Codable, Equatable {
    /// One trust's log, as supplied.
    public struct TrustSummary: Sendable, Codable, Equatable {
        /// The trust.
        public var trust: TrustID
        /// Authentic entries used in the replay.
        public var entries: Int
        /// The highest sequence number seen.
        public var lastSequence: UInt64
        /// The earliest entry time.
        public var firstTime: String?
        /// The latest entry time.
        public var lastTime: String?
        /// The hash of the highest authentic entry.
        public var headHash: String?
    }

    /// One entry on the merged timeline.
    public struct Event: Sendable, Codable, Equatable {
        /// The trust whose log holds it.
        public var trust: TrustID
        /// Its sequence number there.
        public var sequence: UInt64
        /// When it happened.
        public var time: String
        /// What happened.
        public var kind: String
        /// Who did it: the entry's `actor` (a person's display name, or a system's name).
        public var actor: String
        /// Who did it, for people to read: `Dr Priya Shah (S8000:G8000:R8000 at RKB)` for a person,
        /// `system: gossip` for a system, the `actor` alone for an entry that does not say (written
        /// before issue 13).
        public var who: String
        /// What it concerned; NHS numbers masked.
        public var subject: [String: String]
    }

    /// One summary per trust, ordered by trust.
    public var trusts: [TrustSummary]
    /// Every authentic entry of every trust, ordered by time, then trust, then sequence.
    public var timeline: [Event]
    /// What needs an auditor's attention, ordered by time.
    public var findings: [AuditFinding]
    /// What could not be checked, and why (for example a peer's log that was not supplied).
    public var notes: [String]

    /// Whether anything was found.
    public var hasFindings: Bool { !findings.isEmpty }
}
