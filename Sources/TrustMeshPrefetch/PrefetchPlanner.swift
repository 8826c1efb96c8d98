public import Foundation
public import TrustMeshModel
public import TrustMeshNodeCore

/// One prior study to bring for one patient because of one feed event.
public struct PrefetchTask: Sendable, Equatable, Codable {
    /// The patient.
    public var nhsNumber: NHSNumber
    /// The study to fetch.
    public var studyUID: String
    /// The trust that holds it (ODS code).
    public var holder: String
    /// The study's date, `YYYYMMDD`, for the worklist.
    public var studyDate: String?
    /// The rule that chose it.
    public var rule: String
    /// The event's kind and reference (a later cancellation names the same reference).
    public var event: FeedEvent.Kind
    public var reference: String?
    /// The feed that asked, and the clinician and place it named.
    public var source: String
    public var clinician: String?
    public var place: String?
    /// When the appointment, admission or meeting is, if the event said.
    public var appointment: Date?
    /// The fetch may start from here…
    public var notBefore: Date
    /// …and should have started by here (the off-peak window's end, or the appointment); `nil`:
    /// no limit.
    public var notAfter: Date?
    /// When it was planned (duplicates are suppressed from here).
    public var planned: Date
}

/// What the pre-fetch rules say about one feed event, given what the federated index holds for
/// the patient.
public enum PrefetchDecision: Sendable, Equatable {
    /// No rule applies to the event.
    case noRule
    /// The patient has opted out: nothing is fetched, and the worklist says so.
    case optedOut
    /// A cancellation: pending fetches planned for this reference end.
    case cancel(reference: String?)
    /// The appointment is already past: pending fetches for its reference end, nothing new.
    case past(reference: String?)
    /// The rule applies; `tasks` are the priors to fetch (none, if nothing elsewhere matches or
    /// every match is held here or already planned). `held` matched and are held here already;
    /// `suppressed` matched but were planned for this patient within the rule's suppression
    /// interval.
    case plan(rule: String, tasks: [PrefetchTask], held: [String], suppressed: [String])
}

/// The pure part of pre-fetching: which priors an event brings, and when. No I/O and no clock
/// (the time is given), so the tests can walk through days of a clinic's calendar in microseconds.
public enum PrefetchPlanner {
    /// The trust's local time, in which the off-peak window is written.
    public static let london = TimeZone(identifier: "Europe/London")!

    /// Decides what an event brings.
    /// - Parameters:
    ///   - event: What the feed said.
    ///   - rules: The node's rules.
    ///   - federated: The federated query's answer for the patient (every trust's studies, and
    ///     whether each is held here).
    ///   - planned: Tasks already planned for this patient (any state), for suppressing duplicates.
    ///   - now: The time to plan at.
    public static func decide(
        _ event: FeedEvent, rules: PrefetchRules, federated: FederatedQueryResult, planned: [PrefetchTask], now: Date,
        timeZone: TimeZone = london
    ) -> PrefetchDecision {
        if event.kind.cancels { return .cancel(reference: event.reference) }
        if let at = event.at, at < now, event.kind != .admitted, event.kind != .registered {
            return .past(reference: event.reference)
        }
        guard let rule = rules.rule(for: event) else { return .noRule }
        if federated.optedOut { return .optedOut }
        let since = lookBackStart(from: event.at ?? now, months: rule.lookBackMonths, timeZone: timeZone)
        let matching = studies(federated.studies).filter { study in
            guard let date = study.studyDate, date >= since else { return false }
            if !rule.modalities.isEmpty, rule.modalities.isDisjoint(with: study.modalities.map { $0.uppercased() }) {
                return false
            }
            if !rule.bodyParts.isEmpty, rule.bodyParts.isDisjoint(with: study.bodyParts.map { $0.uppercased() }) {
                return false
            }
            return true
        }
        .sorted { ($0.studyDate ?? "", $0.studyInstanceUID) > ($1.studyDate ?? "", $1.studyInstanceUID) }
        .prefix(rule.maxStudies)
        let window = window(rule.when, appointment: event.at, now: now, offPeak: rules.offPeak, timeZone: timeZone)
        var tasks: [PrefetchTask] = []
        var held: [String] = []
        var suppressed: [String] = []
        for study in matching {
            if study.localCopy {
                held.append(study.studyInstanceUID)
            } else if planned.contains(where: {
                $0.studyUID == study.studyInstanceUID && now < $0.planned.addingTimeInterval(rule.suppress.seconds)
            }) {
                suppressed.append(study.studyInstanceUID)
            } else {
                tasks.append(
                    PrefetchTask(
                        nhsNumber: event.nhsNumber, studyUID: study.studyInstanceUID, holder: study.holder,
                        studyDate: study.studyDate, rule: rule.name, event: event.kind, reference: event.reference,
                        source: event.source, clinician: event.clinician, place: event.place, appointment: event.at,
                        notBefore: window.notBefore, notAfter: window.notAfter, planned: now))
            }
        }
        return .plan(rule: rule.name, tasks: tasks, held: held, suppressed: suppressed)
    }

    /// The federated answer's studies, one per Study Instance UID: the answer lists a study once
    /// for every trust that announces it (a copy made by an earlier transfer is announced by its
    /// holder too). Held here if any entry says so; otherwise fetched from the first holder in code
    /// order, so a plan is the same however the answer is ordered. Counting each holder's entry
    /// once filled `maxStudies` with one study and fetched it twice (Scripts/bench prefetch).
    static func studies(_ listed: [FederatedQueryResult.Study]) -> [FederatedQueryResult.Study] {
        var byUID: [String: FederatedQueryResult.Study] = [:]
        for study in listed {
            guard var kept = byUID[study.studyInstanceUID] else {
                byUID[study.studyInstanceUID] = study
                continue
            }
            if study.localCopy || (!kept.localCopy && study.holder < kept.holder) {
                let held = kept.localCopy || study.localCopy
                kept = study
                kept.localCopy = held
            }
            byUID[study.studyInstanceUID] = kept
        }
        return Array(byUID.values)
    }

    /// When a rule's fetches may run: from `notBefore`, and (when set) starting before `notAfter`.
    ///
    /// - `now`: at once, until the appointment.
    /// - `before(H)`: from H before the appointment (at once if that has passed, or with no
    ///   appointment time), until the appointment.
    /// - `offPeak`: inside the off-peak window that contains `now` or opens next, if it opens
    ///   before the appointment (until the window closes or the appointment, whichever is first);
    ///   at once if the appointment comes first (a fetch at 3 p.m. beats none before a 5 p.m. clinic).
    public static func window(
        _ when: PrefetchRules.When, appointment: Date?, now: Date,
        offPeak: (from: PrefetchRules.TimeOfDay, to: PrefetchRules.TimeOfDay), timeZone: TimeZone = london
    ) -> (notBefore: Date, notAfter: Date?) {
        switch when {
        case .now:
            return (now, appointment)
        case .before(let lead):
            guard let appointment else { return (now, nil) }
            return (max(now, appointment.addingTimeInterval(-lead.seconds)), appointment)
        case .offPeak:
            let (opens, end) = nextWindow(after: now, from: offPeak.from, to: offPeak.to, timeZone: timeZone)
            let start = max(opens, now)
            guard let appointment else { return (start, end) }
            if start >= appointment { return (now, appointment) }
            return (start, min(end, appointment))
        }
    }

    /// The off-peak interval that contains `now`, or else the next one to open.
    static func nextWindow(
        after now: Date, from: PrefetchRules.TimeOfDay, to: PrefetchRules.TimeOfDay, timeZone: TimeZone
    ) -> (start: Date, end: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let today = calendar.startOfDay(for: now)
        let at = { (day: Int, time: PrefetchRules.TimeOfDay) -> Date in
            let date = calendar.date(byAdding: .day, value: day, to: today)!
            return calendar.date(bySettingHour: time.minutes / 60, minute: time.minutes % 60, second: 0, of: date)!
        }
        for day in -1...1 {
            let start = at(day, from)
            let end = from < to ? at(day, to) : at(day + 1, to)
            if now < end { return (start, end) }
        }
        return (at(2, from), from < to ? at(2, to) : at(3, to))
    }

    /// The first study date (`YYYYMMDD`) within `months` before `date`, in the trust's calendar.
    static func lookBackStart(from date: Date, months: Int, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let start = calendar.date(byAdding: .month, value: -months, to: date) ?? date
        let parts = calendar.dateComponents([.year, .month, .day], from: start)
        return String(format: "%04d%02d%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
