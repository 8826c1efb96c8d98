/// The tunable limits of ``SharingPolicy``.
///
/// Every node of a network, and the auditor's replay, must use the same settings, or they will
/// disagree about the same request; the defaults are the network's.
public struct PolicySettings: Sendable, Hashable, Codable {
    /// How far in the future a care relationship's start may be and still count as started: the
    /// tolerated difference between two trusts' clocks. Default 5 minutes.
    public var clockSkew: Duration
    /// How long a care relationship with no stated expiry counts from its start. Default 365 days.
    public var maximumAgeWithoutExpiry: Duration

    /// The network's default settings, or others for tests.
    /// - Parameters:
    ///   - clockSkew: Tolerated clock difference between trusts; default 5 minutes.
    ///   - maximumAgeWithoutExpiry: Lifetime of a relationship with no expiry; default 365 days.
    public init(clockSkew: Duration = .seconds(300), maximumAgeWithoutExpiry: Duration = .seconds(365 * 86_400)) {
        self.clockSkew = clockSkew
        self.maximumAgeWithoutExpiry = maximumAgeWithoutExpiry
    }

    /// ``maximumAgeWithoutExpiry`` in whole days, as explanations state it.
    public var maximumAgeWithoutExpiryDays: Int64 { maximumAgeWithoutExpiry.components.seconds / 86_400 }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval` for arithmetic with `Date`.
    var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
