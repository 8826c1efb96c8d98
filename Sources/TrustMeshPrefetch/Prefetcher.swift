public import Foundation
package import TrustMeshFetch
public import TrustMeshModel
public import TrustMeshNodeCore
import TrustMeshStore

/// Turns feed events into fetches: plans each with ``PrefetchPlanner``, keeps the tasks in the
/// catalogue (`PrefetchTable`), and, when a task's time comes, records the care relationship the
/// event is evidence of (``LocalNode/addFeedCare(for:rule:now:)``) and fetches the study as any
/// fetch does (care-gated at the holder, deduplicated, resumable).
///
/// Everything it does is attributed to the feed, a named system: the federated query that plans
/// (audited `query`), the care relationship (`careAdded`), the fetch (`fetchRequested`…).
/// ``runDue(now:)`` is called by the node every few seconds; it is safe to call at any time.
package final class Prefetcher: Sendable {
    let node: LocalNode
    let fetches: FetchEngine
    /// The node's rules.
    package let rules: PrefetchRules
    let timeZone: TimeZone

    package init(
        node: LocalNode, fetches: FetchEngine, rules: PrefetchRules, timeZone: TimeZone = PrefetchPlanner.london
    ) {
        self.node = node
        self.fetches = fetches
        self.rules = rules
        self.timeZone = timeZone
    }

    /// Plans what an event brings and stores the tasks (or cancels those a cancellation or a past
    /// appointment ends).
    /// - Returns: the planner's decision, for the feed's answer and the worklist.
    @discardableResult
    package func receive(_ event: FeedEvent, now: Date = Date()) throws -> PrefetchDecision {
        let federated = try node.query(nhs: event.nhsNumber, by: .system(event.source))
        let decoder = JSONDecoder()
        // Cancelled and failed tasks do not suppress a new plan: a new booking may bring them again.
        let planned = try node.store.prefetch.tasks(nhsNumber: event.nhsNumber.digits)
            .filter { ["waiting", "fetching", "ready"].contains($0.state) }
            .compactMap { try? decoder.decode(PrefetchTask.self, from: $0.task) }
        let decision = PrefetchPlanner.decide(
            event, rules: rules, federated: federated, planned: planned, now: now, timeZone: timeZone)
        switch decision {
        case .cancel(let reference):
            try node.store.prefetch.cancel(
                nhsNumber: event.nhsNumber.digits, source: event.source, reference: reference,
                detail: "cancelled by the feed (\(event.kind.rawValue))", now: now)
        case .past(let reference):
            try node.store.prefetch.cancel(
                nhsNumber: event.nhsNumber.digits, source: event.source, reference: reference,
                detail: "the appointment has passed", now: now)
        case .plan(_, let tasks, _, _):
            let encoder = JSONEncoder()
            try node.store.prefetch.add(
                try tasks.map { task in
                    (
                        task.nhsNumber.digits, task.studyUID, task.source, task.reference, task.notBefore,
                        try encoder.encode(task)
                    )
                }, now: now)
        case .noRule, .optedOut:
            break
        }
        try list(event, decision, now: now)
        return decision
    }

    /// Follows the fetches it started, then starts the tasks whose time has come.
    ///
    /// A task whose appointment has passed before it could start is cancelled; one whose study is
    /// already held (fetched meanwhile by hand, or by another task) is ready at once; one whose
    /// fetch cannot start (the holder refuses, no route) fails with the reason. A fetch this node
    /// no longer knows (it restarted mid-fetch) goes back to waiting, and the next call resumes it
    /// from the chunks already here.
    package func runDue(now: Date = Date()) throws {
        let table = node.store.prefetch
        for row in try table.fetching() {
            guard let id = row.fetchID, let progress = fetches.progress(id) else {
                try table.set(row.id, state: "waiting", detail: "the node restarted during the fetch", now: now)
                continue
            }
            switch progress.state {
            case .completed: try table.set(row.id, state: "ready", now: now)
            case .failed:
                let rule = progress.rule.map { " (\($0))" } ?? ""
                try table.set(row.id, state: "failed", detail: (progress.error ?? "failed") + rule, now: now)
            default: continue
            }
        }
        let decoder = JSONDecoder()
        var cares: [String: CareRelationship] = [:]
        for row in try table.due(now: now) {
            guard let task = try? decoder.decode(PrefetchTask.self, from: row.task) else {
                try table.set(row.id, state: "failed", detail: "the stored task could not be read", now: now)
                continue
            }
            if let appointment = task.appointment, appointment < now, task.event != .admitted,
                task.event != .registered
            {
                try table.set(row.id, state: "cancelled", detail: "the appointment has passed", now: now)
                continue
            }
            if try node.store.holds(studyUID: task.studyUID) {
                try table.set(row.id, state: "ready", detail: "already held here", now: now)
                continue
            }
            do {
                // One care relationship per event, shared by the tasks it planned.
                let key = [task.nhsNumber.digits, task.source, task.reference ?? "", task.event.rawValue]
                    .joined(separator: "\u{1F}")
                let care: CareRelationship
                if let made = cares[key] {
                    care = made
                } else {
                    let event = FeedEvent(
                        kind: task.event, nhsNumber: task.nhsNumber, reference: task.reference, at: task.appointment,
                        place: task.place, clinician: task.clinician, source: task.source, messageID: "")
                    care = try node.addFeedCare(for: event, rule: task.rule, now: now)
                    cares[key] = care
                }
                let fetch = try fetches.start(
                    studyUID: task.studyUID, from: try TrustID(task.holder), clinician: care.clinician,
                    by: .system(task.source), now: now)
                try table.set(row.id, state: "fetching", fetchID: fetch.id, now: now)
            } catch {
                try table.set(row.id, state: "failed", detail: "\(error)", now: now)
            }
        }
    }
}
