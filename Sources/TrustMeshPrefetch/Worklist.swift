public import Foundation
import TrustMeshFetch
public import TrustMeshModel
import TrustMeshNodeCore
package import TrustMeshStore

/// A clinic's or meeting's list as the pre-fetch engine sees it: each patient the feeds (or an
/// uploaded list) put on it, with where their prior imaging stands.
public struct Worklist: Sendable {
    /// Where a patient's prior imaging stands.
    public enum Status: Sendable, Equatable {
        /// The rule applied, and no other trust holds a prior it asks for.
        case nothingElsewhere
        /// Priors are planned and wait for their window, which opens at this time.
        case waiting(opens: Date)
        /// Fetching: bytes received of the bytes to move (what is held here already is not moved).
        case fetching(received: Int, toMove: Int)
        /// Every planned prior is here (fetched, or held here already when the rule matched it).
        case ready
        /// A fetch failed: the holder's refusal (with its rule) or the fault, as the fetch gave it.
        case refused(String)
        /// The patient has opted out: nothing is fetched.
        case optedOut
        /// No pre-fetch rule applies to the event that listed them.
        case noRule
        /// Cancelled by the feed, or the appointment passed before anything started.
        case cancelled(String)

        /// The status's name, stable for pages, scripts and tests.
        public var name: String {
            switch self {
            case .nothingElsewhere: "nothing-elsewhere"
            case .waiting: "waiting"
            case .fetching: "fetching"
            case .ready: "ready"
            case .refused: "refused"
            case .optedOut: "opted-out"
            case .noRule: "no-rule"
            case .cancelled: "cancelled"
            }
        }
    }

    /// One patient on the list.
    public struct Entry: Sendable {
        public var nhsNumber: NHSNumber
        /// The appointment or meeting time, if the feed said.
        public var at: Date?
        /// The clinician the feed named (data, not a signed-in person).
        public var clinician: String?
        /// The feed, or who uploaded the list.
        public var source: String
        /// The rule that planned the priors, if one did.
        public var rule: String?
        public var status: Status
        /// The priors planned for the patient, with each one's state (`waiting`, `fetching`,
        /// `ready`, `failed`), oldest plan first.
        public var studies: [(uid: String, holder: String, state: String)]
    }

    /// The day, `YYYY-MM-DD` in the trust's time.
    public var day: String
    /// The clinic or meeting.
    public var place: String
    public var entries: [Entry]

    /// A time's day in `timeZone` (the trust's), `YYYY-MM-DD`: how lists are named by day.
    public static func day(_ date: Date, timeZone: TimeZone = PrefetchPlanner.london) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }
}

extension Prefetcher {
    /// The day an event's appointment falls on in the trust's time (`YYYY-MM-DD`), or the day it
    /// was received when it names no time.
    func day(of event: FeedEvent, now: Date) -> String { Worklist.day(event.at ?? now, timeZone: timeZone) }

    /// Keeps what the planner decided for an event, for the worklist.
    func list(_ event: FeedEvent, _ decision: PrefetchDecision, now: Date) throws {
        let (state, rule, held, detail): (String, String?, Int, String?) =
            switch decision {
            case .noRule: ("noRule", nil, 0, "no pre-fetch rule applies to \(event.kind.rawValue)")
            case .optedOut: ("optedOut", nil, 0, "the patient has opted out of sharing")
            case .cancel: ("cancelled", nil, 0, "cancelled by the feed (\(event.kind.rawValue))")
            case .past: ("past", nil, 0, "the appointment has passed")
            case .plan(let rule, let tasks, let held, let suppressed):
                (
                    "planned", rule, held.count,
                    "\(tasks.count) to fetch, \(held.count) held here, \(suppressed.count) planned before"
                )
            }
        try node.store.prefetch.record(
            .init(
                nhsNumber: event.nhsNumber.digits, source: event.source, reference: event.reference,
                kind: event.kind.rawValue, at: event.at, day: day(of: event, now: now), place: event.place ?? "",
                clinician: event.clinician, decision: state, rule: rule, held: held, detail: detail),
            now: now)
    }

    /// The clinics and meetings listed, newest day first, with how many patients each.
    package func worklists() throws -> [(day: String, place: String, patients: Int)] {
        try node.store.prefetch.lists()
    }

    /// One clinic's or meeting's list for a day, each patient with their status.
    package func worklist(day: String, place: String) throws -> Worklist {
        let decoder = JSONDecoder()
        var entries: [Worklist.Entry] = []
        for line in try node.store.prefetch.lines(day: day, place: place) {
            guard let nhs = try? NHSNumber(line.nhsNumber) else { continue }
            // The patient's priors, whichever event planned them: a clinic wants to know whether
            // the imaging is here, not which booking brought it.
            let tasks = try node.store.prefetch.tasks(nhsNumber: line.nhsNumber)
                .filter { $0.state != "cancelled" }
                .compactMap { row in
                    (try? decoder.decode(PrefetchTask.self, from: row.task)).map { (current(row), $0) }
                }
            let status: Worklist.Status
            switch line.decision {
            case "optedOut": status = .optedOut
            case "noRule": status = .noRule
            case "cancelled", "past": status = .cancelled(line.detail ?? line.decision)
            default: status = Self.status(of: tasks, held: line.held, progress: { self.fetches.progress($0) })
            }
            entries.append(
                .init(
                    nhsNumber: nhs, at: line.at, clinician: line.clinician, source: line.source, rule: line.rule,
                    status: status, studies: tasks.map { ($0.1.studyUID, $0.1.holder, $0.0.state) }))
        }
        return Worklist(day: day, place: place, entries: entries)
    }

    /// A task as it stands now: one the table still calls `fetching` whose fetch has ended (the
    /// engine records that on its next round, within a second) is `ready` or `failed` already.
    func current(_ row: PrefetchTable.Row) -> PrefetchTable.Row {
        guard row.state == "fetching", let id = row.fetchID, let progress = fetches.progress(id) else { return row }
        var row = row
        switch progress.state {
        case .completed: row.state = "ready"
        case .failed:
            row.state = "failed"
            row.detail = (progress.error ?? "failed") + (progress.rule.map { " (\($0))" } ?? "")
        default: break
        }
        return row
    }

    /// A planned patient's status from their tasks: a refusal first (someone must act on it), then
    /// fetching, waiting, and ready once every task is.
    /// - Parameter held: priors the rule matched that were held here already when it planned.
    static func status(
        of tasks: [(PrefetchTable.Row, PrefetchTask)], held: Int, progress: (String) -> FetchProgress?
    ) -> Worklist.Status {
        if tasks.isEmpty { return held > 0 ? .ready : .nothingElsewhere }
        if let failed = tasks.first(where: { $0.0.state == "failed" }) {
            return .refused(failed.0.detail ?? "the fetch failed")
        }
        let fetching = tasks.filter { $0.0.state == "fetching" }
        if !fetching.isEmpty {
            let progresses = fetching.compactMap { $0.0.fetchID.flatMap(progress) }
            return .fetching(
                received: progresses.reduce(0) { $0 + $1.bytesReceived },
                toMove: progresses.reduce(0) { $0 + $1.bytesToMove })
        }
        if let opens = tasks.filter({ $0.0.state == "waiting" }).map(\.1.notBefore).min() {
            return .waiting(opens: opens)
        }
        return .ready
    }
}
