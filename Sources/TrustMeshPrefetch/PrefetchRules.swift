public import Foundation
public import TrustMeshModel

/// The node's pre-fetch rules: which feed events bring which prior imaging, and when.
///
/// Read from the JSON file `trustmesh node run --prefetch-rules FILE` names:
///
/// ```json
/// {
///   "offPeak": { "from": "20:00", "to": "07:00" },
///   "rules": [
///     { "name": "Fracture clinic priors",
///       "events": ["appointmentBooked", "appointmentRescheduled", "appointmentModified", "clinicListed"],
///       "places": ["Fracture clinic"],
///       "modalities": ["CR", "DX", "CT"], "bodyParts": ["KNEE", "ANKLE"],
///       "lookBackMonths": 24, "maxStudies": 3,
///       "when": "offPeak", "suppressHours": 24 },
///     { "name": "Admissions", "events": ["admitted"], "lookBackMonths": 12, "maxStudies": 5,
///       "when": "now" },
///     { "name": "MDT", "events": ["mdtListed"], "lookBackMonths": 36, "maxStudies": 10,
///       "when": { "hoursBefore": 12 } }
///   ]
/// }
/// ```
///
/// The first rule whose `events` (and `places`, when given) match an event applies; an event no
/// rule matches brings nothing. Times of day are the trust's local time (Europe/London).
public struct PrefetchRules: Sendable, Equatable {
    /// A time of day, `HH:MM`.
    public struct TimeOfDay: Sendable, Equatable, Comparable {
        /// Minutes after midnight, 0 to 1439.
        public var minutes: Int

        /// Reads `HH:MM` (00:00 to 23:59).
        public init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) }),
                let hours = Int(parts[0]), let minutes = Int(parts[1]), (0..<24).contains(hours),
                (0..<60).contains(minutes)
            else { return nil }
            self.minutes = hours * 60 + minutes
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.minutes < rhs.minutes }
    }

    /// When a rule's fetches may run.
    public enum When: Sendable, Equatable {
        /// As soon as the event is received.
        case now
        /// In the off-peak window (``PrefetchRules/offPeak``) before the appointment; at once if
        /// the appointment comes before the next window opens, or the event gives no time.
        case offPeak
        /// From this long before the appointment (at once if that has passed or there is no time).
        case before(Duration)
    }

    /// One rule.
    public struct Rule: Sendable, Equatable {
        /// Its name, as the worklist and the audit show it.
        public var name: String
        /// The events it applies to.
        public var events: Set<FeedEvent.Kind>
        /// The clinics, wards or meetings it applies to (compared ignoring case); empty: any.
        public var places: [String]
        /// Modalities a prior must include one of; empty: any.
        public var modalities: Set<String>
        /// Body parts a prior must include one of; empty: any.
        public var bodyParts: Set<String>
        /// How far back from the appointment (or the event) priors are brought, in months.
        public var lookBackMonths: Int
        /// At most this many priors, newest first.
        public var maxStudies: Int
        /// When the fetches run.
        public var when: When
        /// A study planned for a patient is not planned again for this long (duplicates: one clinic
        /// booking sent twice, two clinics in a week).
        public var suppress: Duration

        /// Whether the rule applies to an event.
        public func matches(_ event: FeedEvent) -> Bool {
            guard events.contains(event.kind) else { return false }
            guard !places.isEmpty else { return true }
            guard let place = event.place?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
            return places.contains { $0.lowercased() == place }
        }
    }

    /// The off-peak window, local time; `from` after `to` spans midnight.
    public var offPeak: (from: TimeOfDay, to: TimeOfDay)
    /// The rules, in the order they are tried.
    public var rules: [Rule]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.offPeak.from == rhs.offPeak.from && lhs.offPeak.to == rhs.offPeak.to && lhs.rules == rhs.rules
    }

    /// The first rule that applies to `event`, if any.
    public func rule(for event: FeedEvent) -> Rule? { rules.first { $0.matches(event) } }

    /// A problem with a rules file: where it is and what is wrong.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        /// A JSON path to the value, e.g. `rules[1].when`.
        public var path: String
        /// What is wrong with it.
        public var reason: String

        public var description: String { "\(path): \(reason)" }
    }

    /// Reads and checks a rules file.
    /// - Throws: ``Problem`` naming the first value that is missing or not in its form.
    public init(json: Data) throws(Problem) {
        guard case .object(let top)? = try? JSONDecoder().decode(JSONValue.self, from: json) else {
            throw Problem(path: "(file)", reason: "not a JSON object")
        }
        try Self.onlyKeys(top, ["offPeak", "rules"], at: "")
        if let value = top["offPeak"] {
            guard case .object(let window) = value else {
                throw Problem(path: "offPeak", reason: "must be an object with from and to (HH:MM)")
            }
            try Self.onlyKeys(window, ["from", "to"], at: "offPeak.")
            guard let from = window["from"]?.text.flatMap(TimeOfDay.init) else {
                throw Problem(path: "offPeak.from", reason: "must be a time HH:MM, 00:00 to 23:59")
            }
            guard let to = window["to"]?.text.flatMap(TimeOfDay.init), to != from else {
                throw Problem(path: "offPeak.to", reason: "must be a time HH:MM, not the same as from")
            }
            offPeak = (from, to)
        } else {
            offPeak = (TimeOfDay("20:00")!, TimeOfDay("07:00")!)
        }
        guard case .array(let list)? = top["rules"], !list.isEmpty else {
            throw Problem(path: "rules", reason: "must be a list of at least one rule")
        }
        rules = try list.enumerated().map { (index, item) throws(Problem) -> Rule in
            try Self.rule(item, at: "rules[\(index)]")
        }
        var names: Set<String> = []
        for (index, rule) in rules.enumerated() where !names.insert(rule.name.lowercased()).inserted {
            throw Problem(path: "rules[\(index)].name", reason: "'\(rule.name)' names two rules")
        }
    }

    private static func rule(_ item: JSONValue, at path: String) throws(Problem) -> Rule {
        guard case .object(let object) = item else { throw Problem(path: path, reason: "must be an object") }
        try onlyKeys(
            object,
            [
                "name", "events", "places", "modalities", "bodyParts", "lookBackMonths", "maxStudies", "when",
                "suppressHours",
            ],
            at: path + ".")
        guard let name = object["name"]?.text?.trimmingCharacters(in: .whitespaces),
            (1...100).contains(name.count)
        else { throw Problem(path: path + ".name", reason: "must be text, 1 to 100 characters") }
        guard let eventNames = object["events"]?.texts, !eventNames.isEmpty else {
            throw Problem(path: path + ".events", reason: "must list at least one event kind")
        }
        var events: Set<FeedEvent.Kind> = []
        for text in eventNames {
            guard let kind = FeedEvent.Kind(rawValue: text) else {
                throw Problem(
                    path: path + ".events",
                    reason: "'\(text.prefix(40))' is not one of "
                        + FeedEvent.Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard !kind.cancels else {
                throw Problem(
                    path: path + ".events",
                    reason: "'\(text)' cancels what was planned; it needs no rule (a cancellation always applies)")
            }
            events.insert(kind)
        }
        let texts = { (key: String) throws(Problem) -> [String] in
            guard let value = object[key] else { return [] }
            guard let list = value.texts, list.allSatisfy({ !$0.trimmingCharacters(in: .whitespaces).isEmpty })
            else { throw Problem(path: path + "." + key, reason: "must be a list of non-empty texts") }
            return list.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let places = try texts("places")
        let modalities = Set(try texts("modalities").map { $0.uppercased() })
        let bodyParts = Set(try texts("bodyParts").map { $0.uppercased() })
        let number = { (key: String, range: ClosedRange<Int>, fallback: Int?) throws(Problem) -> Int in
            guard let value = object[key] else {
                guard let fallback else { throw Problem(path: path + "." + key, reason: "is required") }
                return fallback
            }
            guard let whole = value.wholeNumber, range.contains(whole) else {
                throw Problem(
                    path: path + "." + key,
                    reason: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return whole
        }
        let lookBack = try number("lookBackMonths", 1...600, nil)
        let maxStudies = try number("maxStudies", 1...100, nil)
        let suppressHours = try number("suppressHours", 0...8_760, 24)
        let when: When
        switch object["when"] {
        case nil: when = .now
        case .string("now"): when = .now
        case .string("offPeak"): when = .offPeak
        case .object(let spec) where spec.keys.sorted() == ["hoursBefore"]:
            guard let whole = spec["hoursBefore"]?.wholeNumber, (0...720).contains(whole) else {
                throw Problem(path: path + ".when.hoursBefore", reason: "must be a whole number from 0 to 720")
            }
            when = .before(.seconds(whole * 3600))
        default:
            throw Problem(path: path + ".when", reason: #"must be "now", "offPeak" or {"hoursBefore": H}"#)
        }
        return Rule(
            name: name, events: events, places: places, modalities: modalities, bodyParts: bodyParts,
            lookBackMonths: lookBack, maxStudies: maxStudies, when: when, suppress: .seconds(suppressHours * 3600))
    }

    private static func onlyKeys(_ object: [String: JSONValue], _ allowed: Set<String>, at path: String) throws(Problem)
    {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw Problem(
                path: path + unknown,
                reason: "is not a setting here (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }
}

/// A JSON value as read, so that the rules file's types are checked exactly (a number is not a
/// boolean, a text is not a number) and every problem can name its place.
private enum JSONValue: Decodable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    var text: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var texts: [String]? {
        guard case .array(let items) = self else { return nil }
        let texts = items.compactMap(\.text)
        return texts.count == items.count ? texts : nil
    }

    var wholeNumber: Int? {
        guard case .number(let number) = self else { return nil }
        return Int(exactly: number)
    }
}
