package import Foundation
import Synchronization
package import TrustMeshModel

/// Keeps refusals from flooding the audit log: per kind and source, the first refusal in a window
/// is written as it happens; the rest of that window are counted, and the count is written as one
/// entry when the window ends. Whatever arrives, a source adds at most two entries per window.
///
/// Sources are bounded too: past ``maximumSources`` open windows, new sources share one window,
/// `other sources`, so a flood from many addresses cannot grow memory without bound.
package final class RefusalAggregator: Sendable {
    /// A refusal's kind and where it came from (an address, or a verified peer).
    struct Key: Hashable {
        var kind: AuditEntry.Kind
        var source: String
    }

    /// One open window: when it began, the entry that opened it, and how many refusals since.
    struct Window {
        var start: Date
        var actor: Actor
        var subject: [AuditEntry.SubjectKey: String]
        var repeated = 0
        var last: Date
        var reasons: [String: Int] = [:]
    }

    /// A window that ended with refusals that were counted, not written: one entry to write.
    package struct Summary: Sendable {
        package var kind: AuditEntry.Kind
        package var source: String
        package var actor: Actor
        package var subject: [AuditEntry.SubjectKey: String]
        package var repeated: Int
        package var start: Date
        package var last: Date
        /// How many of the repeated refusals gave each reason (at most ``maximumReasons``; the
        /// rest under `other reasons`).
        package var reasons: [String: Int]
    }

    /// Distinct reasons tallied per window; each is cut to 120 characters.
    package static let maximumReasons = 8

    /// Past this many open windows, a new source shares the window of `other sources`.
    package static let maximumSources = 4096

    private struct State {
        var window: TimeInterval
        var open: [Key: Window] = [:]
    }
    private let state: Mutex<State>

    /// - Parameter window: how long a source's window lasts, in seconds (at least 1).
    package init(window: TimeInterval = 60) {
        state = Mutex(State(window: max(1, window)))
    }

    /// The window's length, in seconds.
    package var window: TimeInterval {
        get { state.withLock { $0.window } }
        set { state.withLock { $0.window = max(1, newValue) } }
    }

    /// Records a refusal; true when it opens a window and is to be written now. Also returns the
    /// windows that have ended (to be written first, in order).
    /// - Parameter reason: why it was refused, tallied for the window's count entry.
    package func record(
        _ kind: AuditEntry.Kind, source: String, actor: Actor, subject: [AuditEntry.SubjectKey: String],
        reason: String?, now: Date
    ) -> (write: Bool, ended: [Summary]) {
        state.withLock { state in
            var ended = Self.takeEnded(&state, now: now)
            var key = Key(kind: kind, source: source)
            if state.open[key] == nil, state.open.count >= Self.maximumSources {
                key.source = "other sources"
            }
            if var window = state.open[key] {
                window.repeated += 1
                window.last = now
                var tallied = String((reason ?? "no reason given").prefix(120))
                if window.reasons[tallied] == nil, window.reasons.count >= Self.maximumReasons {
                    tallied = "other reasons"
                }
                window.reasons[tallied, default: 0] += 1
                state.open[key] = window
                return (false, ended)
            }
            var opening = actor
            var subject = subject
            if key.source != source {
                opening = .system("unauthenticated (other sources)")
                subject = [:]
            }
            state.open[key] = Window(start: now, actor: opening, subject: subject, last: now)
            ended.sort { $0.start < $1.start }
            return (true, ended)
        }
    }

    /// The windows that have ended by `now` (all of them with `all`), removed from the open set.
    package func ended(now: Date, all: Bool = false) -> [Summary] {
        state.withLock { state in
            if all {
                let summaries = state.open.compactMap { Self.summary($0.key, $0.value) }
                state.open = [:]
                return summaries.sorted { $0.start < $1.start }
            }
            return Self.takeEnded(&state, now: now)
        }
    }

    private static func takeEnded(_ state: inout State, now: Date) -> [Summary] {
        let window = state.window
        var summaries: [Summary] = []
        for (key, value) in state.open where now.timeIntervalSince(value.start) >= window {
            state.open[key] = nil
            if let summary = summary(key, value) { summaries.append(summary) }
        }
        return summaries.sorted { $0.start < $1.start }
    }

    private static func summary(_ key: Key, _ window: Window) -> Summary? {
        guard window.repeated > 0 else { return nil }
        return Summary(
            kind: key.kind, source: key.source, actor: window.actor, subject: window.subject,
            repeated: window.repeated, start: window.start, last: window.last, reasons: window.reasons)
    }
}
