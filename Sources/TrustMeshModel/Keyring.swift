public import Foundation
public import TrustMeshCrypto

/// Which trusts are members now, and which keys each signed with when: what every verifier of a
/// record, request or tree head asks. A trust's node key changes (rotation) and can be revoked, so
/// "the trust's key" is a question with a time in it.
///
/// The running node answers from its ``NetworkDirectory`` (membership, certificates and
/// revocations, updated by gossip); tests and the simulation use ``PinnedKeyring``.
public protocol Keyring: Sendable {
    /// The trusts that are members now, sorted by ODS code.
    var members: [TrustID] { get }
    /// The keys that may have made a signature `trust` dated `time` (a record's issue time, a
    /// request's timestamp): certified for that moment and not revoked at or before it. Empty if
    /// the trust is not a member or has no such key.
    func signingKeys(of trust: TrustID, at time: Date) -> [VerifyingKey]
}

extension Keyring {
    /// The keys that may have signed something dated by its `YYYY-MM-DDTHH:MM:SSZ` text (an index
    /// record's issue time); empty if the text is not such a time.
    public func signingKeys(of trust: TrustID, issuedAt text: String) -> [VerifyingKey] {
        guard let time = Timestamp.date(text) else { return [] }
        return signingKeys(of: trust, at: time)
    }
}

/// A fixed key per trust, valid at every time: a network without certificates (tests, the
/// in-memory simulation).
public struct PinnedKeyring: Keyring {
    public let keys: [TrustID: VerifyingKey]
    public let members: [TrustID]

    /// - Parameters:
    ///   - keys: Each trust's one key.
    ///   - members: The member trusts (default: all in `keys`); one without a key is not a member.
    public init(_ keys: [TrustID: VerifyingKey], members: [TrustID]? = nil) {
        self.keys = keys
        self.members = Set(members ?? Array(keys.keys)).filter { keys[$0] != nil }.sorted()
    }

    public func signingKeys(of trust: TrustID, at time: Date) -> [VerifyingKey] {
        keys[trust].map { [$0] } ?? []
    }
}

/// The one textual form of a time in signed records: `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds).
public enum Timestamp {
    /// The text for a moment (rounded down to the second).
    public static func text(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        let year = String(parts.year ?? 0)
        return
            "\(year)-\(two(parts.month))-\(two(parts.day))T\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))Z"
    }

    /// The moment a `YYYY-MM-DDTHH:MM:SSZ` text names; nil for anything else.
    public static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84, bytes[13] == 58, bytes[16] == 58,
            bytes[19] == 90
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let date = calendar.date(from: components),
            calendar.component(.day, from: date) == day
        else { return nil }
        return date
    }
}
