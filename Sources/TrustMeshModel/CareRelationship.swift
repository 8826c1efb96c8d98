public import Foundation
public import TrustMeshCrypto

/// A record, signed by the **requesting** trust's node, that one of its clinicians has started
/// delivering care to a patient: the ticket every fetch of that patient's imaging must carry.
///
/// The caring trust (``trust``) signs it; a holder shares a study only if the ticket verifies with
/// that trust's pinned key, names the study's patient, names a verified clinician of that trust,
/// and is current (see `TrustMeshPolicy`'s `SharingPolicy`). ``start`` and ``expiry`` are ISO-8601
/// UTC times in exactly the form `YYYY-MM-DDTHH:MM:SSZ` (see ``CareTime``); whatever ``expiry`` it
/// states, the holder counts it for at most the network policy's cap for its ``kind``.
///
/// ``clinicianIdentity`` is the person the trust's identity provider signed in who recorded it
/// (absent when it was recorded by a local operator's command, which the holder refuses);
/// ``clinician`` is their display name (or the operator's description). ``reason`` says why care
/// began, and an ``Kind/emergency`` relationship carries a written ``justification``, which both
/// trusts' audit logs keep for review.
///
/// The signature covers ``signedBytes``, the canonical encoding of every field except the signature
/// (see ``Draft/signedBytes`` and <doc:CanonicalEncoding>). Relationships travel as JSON; a receiver
/// re-derives ``signedBytes`` from the decoded fields and checks the signature with the caring
/// trust's pinned key. Decoding refuses a relationship whose fields are not in their documented
/// forms, so a value that decoded always has readable times, a reason, and a justification if it
/// is an emergency.
///
/// ```swift
/// let care = CareRelationship.Draft(
///     id: UUID().uuidString.lowercased(), trust: try TrustID("RRK"), nhsNumber: try NHSNumber("9434765919"),
///     clinician: shah.name, clinicianIdentity: shah, kind: .admission, reason: "Admitted with chest pain",
///     start: CareTime.format(now), expiry: nil
/// ).signed(by: nodeKey)
/// try care.verify(with: pinnedKeys[care.trust]!)   // throws CryptoError.badSignature
/// ```
public struct CareRelationship: Sendable, Codable, Hashable {
    /// How the caring trust came to be delivering care.
    public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
        /// The patient was referred to the trust.
        case referral
        /// The patient was admitted.
        case admission
        /// The patient attends an outpatient clinic (an appointment).
        case outpatient
        /// The patient attends the emergency department; needs a ``CareRelationship/justification``.
        case emergency
        /// The patient is discussed at a multidisciplinary team meeting.
        case mdt
    }

    /// The relationship's identity: a UUID in lowercase text form, chosen by the caring trust.
    public let id: String
    /// The caring trust, which signed the relationship and makes fetches under it.
    public let trust: TrustID
    /// The patient.
    public let nhsNumber: NHSNumber
    /// Who is delivering care, for display: the ``clinicianIdentity``'s name when there is one
    /// (trimmed, 1 to 128 characters).
    public let clinician: String
    /// The verified person who recorded it, as the caring trust's identity provider signed them in;
    /// `nil` when a local operator recorded it (the holder's policy then refuses it).
    public let clinicianIdentity: Person?
    /// How care began.
    public let kind: Kind
    /// Why care began, in the clinician's words (trimmed, 1 to 500 characters).
    public let reason: String
    /// When care began: ISO-8601 UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    public let start: String
    /// When the relationship ends, as stated: ISO-8601 UTC, `YYYY-MM-DDTHH:MM:SSZ`; `nil` if none
    /// was stated. The holder applies the earlier of this and the network policy's cap for ``kind``.
    public let expiry: String?
    /// Why emergency access is needed (trimmed, 1 to 1000 characters): required for
    /// ``Kind/emergency``, optional otherwise.
    public let justification: String?
    /// The caring trust's Ed25519 signature of ``signedBytes``.
    public let signature: Signature

    /// Assembles a relationship from its fields and a signature, without checking the signature.
    ///
    /// For reading relationships back from storage; anything from outside must go through
    /// ``verify(with:)`` before it is believed.
    /// - Parameters:
    ///   - draft: Every signed field.
    ///   - signature: The caring trust's signature of `draft.signedBytes`.
    public init(draft: Draft, signature: Signature) {
        id = draft.id
        trust = draft.trust
        nhsNumber = draft.nhsNumber
        clinician = draft.clinician
        clinicianIdentity = draft.clinicianIdentity
        kind = draft.kind
        reason = draft.reason
        start = draft.start
        expiry = draft.expiry
        justification = draft.justification
        self.signature = signature
    }

    /// The signed fields, without the signature.
    public var draft: Draft {
        Draft(
            id: id, trust: trust, nhsNumber: nhsNumber, clinician: clinician, clinicianIdentity: clinicianIdentity,
            kind: kind, reason: reason, start: start, expiry: expiry, justification: justification)
    }

    /// The canonical encoding of every field except ``signature``: what the signature covers.
    ///
    /// See ``Draft/signedBytes`` for the field order.
    public var signedBytes: [UInt8] { draft.signedBytes }

    /// ``start`` as a time; `nil` only for a value built in code with a malformed ``start``.
    public var startDate: Date? { CareTime.parse(start) }

    /// ``expiry`` as a time; `nil` if no expiry was stated (or, for a value built in code, if it
    /// is malformed).
    public var expiryDate: Date? { expiry.flatMap(CareTime.parse) }

    /// Checks that ``signature`` is `key`'s signature of ``signedBytes``.
    ///
    /// Pass the pinned key of the trust making the request, never a key the sender supplied: then
    /// no field can be altered, and no trust can present a relationship another trust recorded.
    /// - Parameter key: The caring trust's pinned Ed25519 key.
    /// - Throws: ``CryptoError/badSignature`` if any field was altered or another key signed it. There
    ///   is no `Bool` form, on purpose.
    public func verify(with key: VerifyingKey) throws(CryptoError) {
        try key.verify(signature, for: signedBytes)
    }

    fileprivate enum CodingKeys: String, CodingKey {
        case id, trust, nhsNumber, clinician, clinicianIdentity, kind, reason, start, expiry, justification, signature
    }

    /// Decodes a relationship and checks that its fields are in their documented forms.
    ///
    /// The signature is not checked here: see ``verify(with:)``.
    /// - Throws: `DecodingError.dataCorrupted` if ``id`` is not a lowercase UUID; ``clinician`` is
    ///   empty, longer than 128 characters, untrimmed, or not the ``clinicianIdentity``'s name; a
    ///   field of ``clinicianIdentity`` is not in its form (``Person``); ``reason`` is empty, longer
    ///   than 500 characters or untrimmed; ``start`` or ``expiry`` is not `YYYY-MM-DDTHH:MM:SSZ`; or
    ///   ``justification`` is missing from an emergency, empty, longer than 1000 characters or
    ///   untrimmed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let draft = Draft(
            id: try container.decode(String.self, forKey: .id),
            trust: try container.decode(TrustID.self, forKey: .trust),
            nhsNumber: try container.decode(NHSNumber.self, forKey: .nhsNumber),
            clinician: try container.decode(String.self, forKey: .clinician),
            clinicianIdentity: try container.decodeIfPresent(Person.self, forKey: .clinicianIdentity),
            kind: try container.decode(Kind.self, forKey: .kind),
            reason: try container.decode(String.self, forKey: .reason),
            start: try container.decode(String.self, forKey: .start),
            expiry: try container.decodeIfPresent(String.self, forKey: .expiry),
            justification: try container.decodeIfPresent(String.self, forKey: .justification))
        if let (key, problem) = draft.formProblem {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: problem)
        }
        self.init(draft: draft, signature: try container.decode(Signature.self, forKey: .signature))
    }
}

extension CareRelationship {
    /// The signed fields of a ``CareRelationship``, before signing.
    public struct Draft: Sendable, Hashable {
        /// The relationship's identity: a lowercase UUID.
        public var id: String
        /// The caring trust, which signs.
        public var trust: TrustID
        /// The patient.
        public var nhsNumber: NHSNumber
        /// Who is delivering care, for display, trimmed, 1 to 128 characters: the
        /// ``clinicianIdentity``'s name when there is one.
        public var clinician: String
        /// The verified person who recorded it; `nil` for a local operator.
        public var clinicianIdentity: Person?
        /// How care began.
        public var kind: Kind
        /// Why care began, trimmed, 1 to 500 characters.
        public var reason: String
        /// When care began, `YYYY-MM-DDTHH:MM:SSZ` (see ``CareTime/format(_:)``).
        public var start: String
        /// When the relationship ends, `YYYY-MM-DDTHH:MM:SSZ`, or `nil` if not stated.
        public var expiry: String?
        /// Why emergency access is needed, trimmed, 1 to 1000 characters; required for an emergency.
        public var justification: String?

        /// Creates the fields of a relationship.
        ///
        /// Nothing is checked here; a relationship whose fields are not in their documented forms
        /// cannot be decoded by any receiver (or read back from a node's store).
        /// - Parameters:
        ///   - id: A fresh UUID, lowercase: `UUID().uuidString.lowercased()`.
        ///   - trust: The caring trust, whose node signs.
        ///   - nhsNumber: The patient.
        ///   - clinician: Who is delivering care, trimmed, 1 to 128 characters: the person's name when
        ///     there is one.
        ///   - clinicianIdentity: The signed-in person who recorded it; `nil` for a local operator.
        ///   - kind: How care began.
        ///   - reason: Why care began, trimmed, 1 to 500 characters.
        ///   - start: When care began, `YYYY-MM-DDTHH:MM:SSZ`.
        ///   - expiry: When the relationship ends, `YYYY-MM-DDTHH:MM:SSZ`, or `nil` if not stated.
        ///   - justification: Why emergency access is needed; required for an emergency.
        public init(
            id: String, trust: TrustID, nhsNumber: NHSNumber, clinician: String, clinicianIdentity: Person?,
            kind: Kind, reason: String, start: String, expiry: String?, justification: String? = nil
        ) {
            self.id = id
            self.trust = trust
            self.nhsNumber = nhsNumber
            self.clinician = clinician
            self.clinicianIdentity = clinicianIdentity
            self.kind = kind
            self.reason = reason
            self.start = start
            self.expiry = expiry
            self.justification = justification
        }

        /// The domain-separation string of care relationships, version 2 (version 1 had no
        /// clinician identity, reason or justification; it is no longer read).
        public static let domain = "TrustMesh/CareRelationship/v2"

        /// The canonical encoding of the fields: what the caring trust signs.
        ///
        /// ``domain`` and `0x00`, then, in this order and in ``CanonicalEncoder``'s forms:
        ///
        /// | # | field | form |
        /// |---|---|---|
        /// | 1 | `id` | String (the lowercase UUID, 36 bytes) |
        /// | 2 | `trust` | String (the upper-case ODS code) |
        /// | 3 | `nhsNumber` | String: the 10 digits, no spaces |
        /// | 4 | `clinician` | String, UTF-8 as held |
        /// | 5 | `kind` | String: `referral`, `admission`, `outpatient`, `emergency` or `mdt` |
        /// | 6 | `start` | String: `YYYY-MM-DDTHH:MM:SSZ` |
        /// | 7 | `expiry` | Optional String: `YYYY-MM-DDTHH:MM:SSZ` |
        /// | 8 | `clinicianIdentity` | Optional of, in order: `issuer` String, `subject` String, `name` String, `roleCode` String, `organisation` String (ODS code), `registration` Optional String |
        /// | 9 | `reason` | String |
        /// | 10 | `justification` | Optional String |
        ///
        /// The JSON form carries exactly these values under the same keys (`clinicianIdentity` as an
        /// object with the six keys; `expiry`, `clinicianIdentity`, its `registration` and
        /// `justification` absent when there is none), plus `signature` as padded base64.
        public var signedBytes: [UInt8] {
            var encoder = CanonicalEncoder(domain: Self.domain)
            encoder.append(id)
            encoder.append(trust.code)
            encoder.append(nhsNumber.digits)
            encoder.append(clinician)
            encoder.append(kind.rawValue)
            encoder.append(start)
            encoder.append(optional: expiry)
            encoder.appendPresence(clinicianIdentity != nil)
            if let person = clinicianIdentity { encoder.append(person) }
            encoder.append(reason)
            encoder.append(optional: justification)
            return encoder.bytes
        }

        /// Signs the fields with the caring trust's key.
        ///
        /// Ed25519 is deterministic: the same fields and key always give the same relationship.
        /// - Parameter key: The signing key of ``trust``'s node; any other key makes a relationship no
        ///   holder accepts.
        /// - Returns: The signed relationship.
        public func signed(by key: SigningKey) -> CareRelationship {
            CareRelationship(draft: self, signature: key.sign(signedBytes))
        }

        /// The first field not in its documented form, and why; `nil` if all are.
        fileprivate var formProblem: (CareRelationship.CodingKeys, String)? {
            if !Self.isLowercaseUUID(id) { return (.id, "id is not a lowercase UUID") }
            if let problem = Self.textProblem(clinician, "clinician", 128) { return (.clinician, problem) }
            if let person = clinicianIdentity {
                if let problem = person.formProblem { return (.clinicianIdentity, problem) }
                if person.name != clinician {
                    return (.clinician, "clinician is not the name of the clinicianIdentity")
                }
            }
            if let problem = Self.textProblem(reason, "reason", 500) { return (.reason, problem) }
            if CareTime.parse(start) == nil { return (.start, "start is not YYYY-MM-DDTHH:MM:SSZ") }
            if let expiry, CareTime.parse(expiry) == nil {
                return (.expiry, "expiry is not YYYY-MM-DDTHH:MM:SSZ")
            }
            if let justification {
                if let problem = Self.textProblem(justification, "justification", 1000) {
                    return (.justification, problem)
                }
            } else if kind == .emergency {
                return (.justification, "an emergency care relationship needs a justification")
            }
            return nil
        }

        /// Why `text` is not trimmed text of 1 to `maximum` characters, or `nil` if it is.
        private static func textProblem(_ text: String, _ field: String, _ maximum: Int) -> String? {
            if text.trimmingCharacters(in: .whitespacesAndNewlines) != text {
                return "\(field) has leading or trailing white space"
            }
            if !(1...maximum).contains(text.count) { return "\(field) must be 1 to \(maximum) characters" }
            return nil
        }

        /// 8-4-4-4-12 lowercase hex digits, as `UUID().uuidString.lowercased()` prints.
        private static func isLowercaseUUID(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            guard bytes.count == 36 else { return false }
            for (index, byte) in bytes.enumerated() {
                if [8, 13, 18, 23].contains(index) {
                    guard byte == UInt8(ascii: "-") else { return false }
                } else {
                    guard (48...57).contains(byte) || (97...102).contains(byte) else { return false }
                }
            }
            return true
        }
    }
}

/// Reads and writes the one timestamp form care relationships use, `YYYY-MM-DDTHH:MM:SSZ` (UTC,
/// whole seconds), with no locale, calendar or time-zone settings involved.
///
/// The conversion is pure arithmetic on the proleptic Gregorian calendar (days from civil, as in
/// Howard Hinnant's "chrono-Compatible Low-Level Date Algorithms"), so every node and the auditor's
/// replay read a time identically. Years 0001 to 9999 only; no leap seconds (`:60` is refused).
///
/// ```swift
/// CareTime.parse("2026-11-25T09:00:00Z")   // a Date
/// CareTime.parseExpiry("2026-12-31")       // 2026-12-31T23:59:59Z
/// CareTime.format(Date(timeIntervalSince1970: 0))  // "1970-01-01T00:00:00Z"
/// ```
public enum CareTime {
    /// Parses exactly `YYYY-MM-DDTHH:MM:SSZ`.
    /// - Parameter text: The timestamp; no fractional seconds, offsets or lowercase `t`/`z`.
    /// - Returns: The time, or `nil` if `text` is not in the form or names no real time.
    public static func parse(_ text: String) -> Date? {
        unixSeconds(text).map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// Parses an expiry as typed on a command line: `YYYY-MM-DD` (the end of that day, 23:59:59
    /// UTC) or a full `YYYY-MM-DDTHH:MM:SSZ`.
    /// - Parameter text: The date or timestamp; surrounding spaces are ignored.
    /// - Returns: The time, or `nil` if `text` is neither form or names no real day.
    public static func parseExpiry(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let bytes = Array(trimmed.utf8)
        if bytes.count == 10, let day = days(bytes) {
            return Date(timeIntervalSince1970: TimeInterval(day * 86_400 + 86_399))
        }
        return parse(trimmed)
    }

    /// Formats a time as `YYYY-MM-DDTHH:MM:SSZ`, dropping any fraction of a second.
    /// - Parameter date: The time; times outside years 0001 to 9999 are clamped to that range.
    /// - Returns: The timestamp.
    public static func format(_ date: Date) -> String {
        let raw = date.timeIntervalSince1970.rounded(.down)
        let seconds = raw.isNaN ? 0 : Int64(max(Double(minimum), min(Double(maximum), raw)))
        return format(unixSeconds: seconds)
    }

    /// Seconds since 1970-01-01T00:00:00Z of a `YYYY-MM-DDTHH:MM:SSZ` timestamp.
    package static func unixSeconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"),
            bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "Z"),
            let day = days(Array(bytes[0..<10])), let hour = number(bytes[11..<13]), hour < 24,
            let minute = number(bytes[14..<16]), minute < 60, let second = number(bytes[17..<19]), second < 60
        else { return nil }
        return day * 86_400 + hour * 3600 + minute * 60 + second
    }

    /// Formats seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ`.
    package static func format(unixSeconds: Int64) -> String {
        let clamped = max(minimum, min(maximum, unixSeconds))
        let day = clamped >= 0 ? clamped / 86_400 : (clamped - 86_399) / 86_400
        let secondOfDay = clamped - day * 86_400
        let (year, month, dayOfMonth) = civil(fromDays: day)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(dayOfMonth, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + "Z"
    }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    private static let minimum: Int64 = -62_135_596_800
    private static let maximum: Int64 = 253_402_300_799

    /// Days since 1970-01-01 of exactly `YYYY-MM-DD`.
    private static func days(_ bytes: [UInt8]) -> Int64? {
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = number(bytes[0..<4]), year >= 1, let month = number(bytes[5..<7]), (1...12).contains(month),
            let day = number(bytes[8..<10]), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        return daysFromCivil(year: year, month: month, day: day)
    }

    /// ASCII digits only (no sign, no spaces) as a number.
    private static func number(_ bytes: ArraySlice<UInt8>) -> Int64? {
        var value: Int64 = 0
        for byte in bytes {
            guard (48...57).contains(byte) else { return nil }
            value = value * 10 + Int64(byte - 48)
        }
        return value
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Hinnant's `civil_from_days`: the inverse of ``daysFromCivil(year:month:day:)``.
    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
