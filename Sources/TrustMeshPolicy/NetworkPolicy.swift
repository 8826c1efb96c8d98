public import TrustMeshModel

/// The network's policy: the limits every node of a network applies when it decides to share, and
/// the auditor's replay applies when it judges what was shared. Loaded from `policy.json` beside
/// the topology (`trustmesh network create` writes one with the defaults).
///
/// Every node of a network, and the replay, must use the same policy, or they will disagree about
/// the same request. The holder applies it whatever the requester wrote: a care relationship counts
/// until the **earlier** of the expiry it states and its start plus the cap for its kind.
///
/// ## The file
///
/// A JSON object; every key is optional (a missing one takes its default) and an unknown key is an
/// error, so a misspelt key cannot silently leave a default in force:
///
/// ```json
/// {
///   "format": 1,
///   "careExpiryCaps": { "referral": "365d", "outpatient": "365d", "mdt": "365d",
///                       "admission": "90d", "emergency": "72h" },
///   "clockSkew": "5m",
///   "maxCareRecordsPerPersonPerDay": 20
/// }
/// ```
///
/// - `format`: 1.
/// - `careExpiryCaps`: per care relationship kind (`referral`, `admission`, `outpatient`,
///   `emergency`, `mdt`), the longest a relationship of that kind counts from its start. A kind left
///   out keeps its default (above).
/// - `clockSkew`: how far in the future a relationship's start may be and still count as started
///   (the tolerated difference between two trusts' clocks), at most one day.
/// - `maxCareRecordsPerPersonPerDay`: more care relationships than this recorded by one person in
///   one UTC day is a replay finding (`trustmesh audit replay`).
///
/// A duration is a whole number followed by a unit, `s`, `m`, `h` or `d` (`"72h"`, `"365d"`,
/// `"300s"`), or a JSON number of seconds. Caps must be more than zero.
public struct NetworkPolicy: Sendable, Hashable, Codable {
    /// The longest a care relationship of each kind counts from its start, whatever expiry it states.
    /// Every kind has an entry.
    public private(set) var careExpiryCaps: [CareRelationship.Kind: Duration]
    /// How far in the future a care relationship's start may be and still count as started.
    /// Default 5 minutes.
    public var clockSkew: Duration
    /// The most care relationships one person may record in one UTC day before the replay reports
    /// it. Default 20.
    public var maxCareRecordsPerPersonPerDay: Int

    /// The caps that apply when the file does not set them: referral, outpatient (an appointment)
    /// and MDT 365 days, admission 90 days, emergency 72 hours.
    public static let defaultCaps: [CareRelationship.Kind: Duration] = [
        .referral: .seconds(365 * 86_400), .outpatient: .seconds(365 * 86_400), .mdt: .seconds(365 * 86_400),
        .admission: .seconds(90 * 86_400), .emergency: .seconds(72 * 3600),
    ]

    /// The network's default policy, or others for tests.
    /// - Parameters:
    ///   - careExpiryCaps: Caps for some kinds; the others keep ``defaultCaps``.
    ///   - clockSkew: Tolerated clock difference between trusts; default 5 minutes.
    ///   - maxCareRecordsPerPersonPerDay: The replay's daily limit per person; default 20.
    public init(
        careExpiryCaps: [CareRelationship.Kind: Duration] = [:], clockSkew: Duration = .seconds(300),
        maxCareRecordsPerPersonPerDay: Int = 20
    ) {
        self.careExpiryCaps = Self.defaultCaps.merging(careExpiryCaps) { $1 }
        self.clockSkew = clockSkew
        self.maxCareRecordsPerPersonPerDay = maxCareRecordsPerPersonPerDay
    }

    /// The cap for a kind of care relationship.
    /// - Parameter kind: The relationship's kind.
    /// - Returns: The longest it counts from its start.
    public func cap(_ kind: CareRelationship.Kind) -> Duration {
        careExpiryCaps[kind] ?? Self.defaultCaps[kind] ?? .zero
    }

    /// Changes the cap for one kind.
    /// - Parameters:
    ///   - kind: The kind.
    ///   - cap: The longest a relationship of that kind counts from its start.
    public mutating func setCap(_ kind: CareRelationship.Kind, to cap: Duration) {
        careExpiryCaps[kind] = cap
    }

    // MARK: JSON

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case format, careExpiryCaps, clockSkew, maxCareRecordsPerPersonPerDay
    }

    /// Any key, to find the ones this version does not know.
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Reads the file's form (see the type's documentation).
    /// - Throws: `DecodingError.dataCorrupted` whose coding path names the field, for an unknown key,
    ///   an unknown care kind, a malformed duration, a cap that is not more than zero, a clock skew
    ///   over a day, a daily limit under 1, or a format other than 1.
    public init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = all.allKeys.first(where: { CodingKeys(rawValue: $0.stringValue) == nil }) {
            throw DecodingError.dataCorruptedError(
                forKey: unknown, in: all,
                debugDescription: "unknown key (the keys are "
                    + CodingKeys.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let format = try container.decodeIfPresent(Int.self, forKey: .format), format != 1 {
            throw DecodingError.dataCorruptedError(
                forKey: .format, in: container, debugDescription: "format \(format) is not 1 (this version's)")
        }
        var caps: [CareRelationship.Kind: Duration] = [:]
        if container.contains(.careExpiryCaps) {
            let nested = try container.nestedContainer(keyedBy: AnyKey.self, forKey: .careExpiryCaps)
            for key in nested.allKeys {
                guard let kind = CareRelationship.Kind(rawValue: key.stringValue) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: nested,
                        debugDescription: "not a care relationship kind (the kinds are "
                            + CareRelationship.Kind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                }
                let cap = try Self.duration(nested, key)
                guard cap > .zero else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: nested, debugDescription: "a cap must be more than zero")
                }
                caps[kind] = cap
            }
        }
        var skew = Duration.seconds(300)
        if container.contains(.clockSkew) {
            skew = try Self.duration(container, .clockSkew)
            guard skew <= .seconds(86_400) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .clockSkew, in: container, debugDescription: "the clock skew must be at most a day")
            }
        }
        let limit = try container.decodeIfPresent(Int.self, forKey: .maxCareRecordsPerPersonPerDay) ?? 20
        guard limit >= 1 else {
            throw DecodingError.dataCorruptedError(
                forKey: .maxCareRecordsPerPersonPerDay, in: container, debugDescription: "must be at least 1")
        }
        self.init(careExpiryCaps: caps, clockSkew: skew, maxCareRecordsPerPersonPerDay: limit)
    }

    /// Writes the file's form, every key present, durations in their largest whole unit.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(1, forKey: .format)
        var caps: [String: String] = [:]
        for kind in CareRelationship.Kind.allCases { caps[kind.rawValue] = Self.text(cap(kind)) }
        try container.encode(caps, forKey: .careExpiryCaps)
        try container.encode(Self.text(clockSkew), forKey: .clockSkew)
        try container.encode(maxCareRecordsPerPersonPerDay, forKey: .maxCareRecordsPerPersonPerDay)
    }

    /// A duration as the file writes it: `"72h"`, `"365d"`, `"5m"`, `"90s"` (whole days beyond 72
    /// hours, else the largest whole unit).
    public static func text(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds % 86_400 == 0, seconds > 72 * 3600 { return "\(seconds / 86_400)d" }
        for (unit, size) in [("h", Int64(3600)), ("m", 60)] where seconds != 0 && seconds % size == 0 {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }

    /// A duration in words, for explanations: `72 hours`, `90 days`, `365 days` (whole days beyond
    /// 72 hours, else whole hours, minutes or seconds).
    public static func words(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        func plural(_ n: Int64, _ unit: String) -> String { "\(n) \(unit)\(n == 1 ? "" : "s")" }
        if seconds % 86_400 == 0, seconds > 72 * 3600 { return plural(seconds / 86_400, "day") }
        if seconds % 3600 == 0, seconds >= 3600 { return plural(seconds / 3600, "hour") }
        if seconds % 60 == 0, seconds >= 60 { return plural(seconds / 60, "minute") }
        return plural(seconds, "second")
    }

    /// Parses `"72h"`-style text or a number of seconds.
    private static func duration<K: CodingKey>(_ container: KeyedDecodingContainer<K>, _ key: K) throws -> Duration {
        if let seconds = try? container.decode(Int64.self, forKey: key) {
            guard seconds >= 0 else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "a duration cannot be negative")
            }
            return .seconds(seconds)
        }
        let text = try container.decode(String.self, forKey: key)
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let number = Int64(text.dropLast()), number >= 0,
            number <= Int64.max / unit / 1_000_000
        else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container,
                debugDescription: "\"\(text.prefix(32))\" is not a duration (a whole number and s, m, h or d, "
                    + "e.g. \"72h\" or \"365d\")")
        }
        return .seconds(number * unit)
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval` for arithmetic with `Date`.
    var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
