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
    /// Chunks already held here before the fetch (deduplicated: not moved).
    public var chunksAlreadyHeld: Int
    /// Chunks received and verified during this fetch.
    public var chunksReceived: Int
    /// Compressed bytes that must move (the chunks not held here).
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
    /// For a holder's refusal: the policy rule that failed.
    public var rule: String?
    /// The holder's id for the transfer, once it served the manifest (both sides audit it).
    public var transferID: String?
}
