public import TrustMeshPolicy

/// Where a fetch has got to, as the CLI and the local API show it.
public struct FetchProgress: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case requesting, transferring, completed, failed
    }

    public var id: String
    public var studyUID: String
    /// The holding trust asked.
    public var holder: String
    public var clinician: String
    public var state: State
    /// Chunks the study has, distinct.
    public var chunksTotal: Int
    /// Chunks this fetch does not move: held here before it, or moved by another fetch running at
    /// the same time (deduplicated).
    public var chunksAlreadyHeld: Int
    /// Chunks received and verified during this fetch.
    public var chunksReceived: Int
    /// Compressed bytes this fetch moves (the chunks not held here and not moved by another fetch).
    public var bytesToMove: Int
    /// Compressed bytes received and verified.
    public var bytesReceived: Int
    /// Bytes of the study's files.
    public var studyBytes: Int
    /// Chunks that failed verification and were asked for again.
    public var chunksRefetched: Int
    /// Seconds since the fetch started.
    public var elapsedSeconds: Double
    /// Bytes per second over the transfer so far.
    public var bytesPerSecond: Double
    /// Estimated seconds left, when transferring.
    public var secondsLeft: Double?
    /// Why it failed, in words for the clinician.
    public var error: String?
    /// For a refusal: the policy rule that failed (its name in JSON).
    public var rule: ReportedRule?
    /// When it failed: what kind of failure, for the screen.
    public var failure: FetchFailure? = nil
    /// The holder's id for the transfer, once it served the manifest (both sides audit it).
    public var transferID: String?
    /// While the chunks this fetch still lacks are being moved by other fetches running at the
    /// same time (the same images asked for twice): how many; nil otherwise.
    public var waitingForOtherFetches: Int? = nil
}
