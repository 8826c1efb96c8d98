public import Foundation
public import TrustMeshCrypto
public import TrustMeshModel

/// What a holder knows when another trust asks it to share a study: the facts
/// ``SharingPolicy/decide(_:policy:)`` decides on.
///
/// The caller gathers these (from its topology, catalogue, index and clock); the policy itself reads
/// nothing. The auditor's replay rebuilds the same value from a log entry and must reach the same
/// decision.
public struct SharingRequest: Sendable, Equatable {
    /// The trust asking, as authenticated by the request's envelope.
    public var requester: TrustID
    /// The requester's Ed25519 key as pinned in this node's topology; `nil` if the topology pins
    /// none (the trust is not a member of this network).
    public var requesterKey: VerifyingKey?
    /// The care relationship the request carries, if any.
    public var care: CareRelationship?
    /// The NHS number of the requested study as held here; `nil` if the study is not held (or is
    /// held without a valid NHS number, and so was never published).
    public var studyNHSNumber: NHSNumber?
    /// Whether this node's index view says the patient has opted out of sharing.
    public var optedOut: Bool
    /// The time of the decision.
    public var now: Date

    /// Gathers the facts of one request.
    /// - Parameters:
    ///   - requester: The authenticated requesting trust.
    ///   - requesterKey: Its pinned signing key, `nil` if not pinned.
    ///   - care: The care relationship presented, if any.
    ///   - studyNHSNumber: The patient of the study as held here, `nil` if the study is not held.
    ///   - optedOut: Whether the patient has opted out of sharing.
    ///   - now: The time of the decision.
    public init(
        requester: TrustID, requesterKey: VerifyingKey?, care: CareRelationship?, studyNHSNumber: NHSNumber?,
        optedOut: Bool, now: Date
    ) {
        self.requester = requester
        self.requesterKey = requesterKey
        self.care = care
        self.studyNHSNumber = studyNHSNumber
        self.optedOut = optedOut
        self.now = now
    }
}
