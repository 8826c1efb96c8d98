package import Foundation
import Glibc
public import TrustMeshModel
import TrustMeshStore

extension LocalNode {
    /// Appends an entry to the node's signed, hash-chained audit log (docs/AUDIT-FORMAT.md §5
    /// lists the kinds and their subjects).
    ///
    /// The entry's `actor` is the actor's display name; the subject gains the keys that say who
    /// acted (``Actor/auditSubject``: `actorKind`, and a person's issuer, subject, role, organisation
    /// and session).
    ///
    /// Governance events must not be lost silently, but an audit failure must not hide the event
    /// itself from the operator either: a failure is written to standard error and rethrown to the
    /// caller, which decides (peer-facing paths refuse; see the call sites).
    /// - Parameters:
    ///   - kind: What happened.
    ///   - actor: Who did it: a signed-in person, or a system.
    ///   - subject: What it concerned.
    ///   - details: Kind-specific detail.
    package func audit(
        _ kind: AuditEntry.Kind, actor: Actor, subject: [AuditEntry.SubjectKey: String] = [:], details: String? = nil
    ) throws {
        let draft = AuditEntry.Draft(
            trust: configuration.trust, time: CareTime.format(Date()), kind: kind, actor: actor.displayName,
            subject: subject.merging(actor.auditSubject) { $1 }, details: details)
        do {
            try appendAuditEntry(draft)
        } catch {
            FileHandle.standardError.write(Data("audit: could not append \(kind.rawValue): \(error)\n".utf8))
            throw error
        }
    }

    /// Audits a refusal without letting a flood of them flood the log: per kind and source (an
    /// address, or a verified peer), the first refusal in a window (``RefusalAggregator``, 60 s by
    /// default) is written as it happens, the rest are counted, and the count is written as one
    /// entry of the same kind when the window ends (details `{"repeated": N, "source": …, "from": …,
    /// "to": …, "reasons": {reason: count}}`: N refusals after the first, between those times, and
    /// why). Windows that have ended are written before the new refusal; ``flushRefusals(now:all:)``
    /// writes them when no refusal follows.
    /// - Parameters:
    ///   - source: where the refusal came from; the unit of aggregation.
    ///   - actor: who is refused: `unauthenticated ADDRESS` until a credential verified.
    ///   - reason: why, short; tallied in the window's count entry.
    package func auditRefusal(
        _ kind: AuditEntry.Kind, source: String, actor: Actor, subject: [AuditEntry.SubjectKey: String] = [:],
        details: String? = nil, reason: String? = nil, now: Date = Date()
    ) throws {
        let (write, ended) = refusals.record(
            kind, source: source, actor: actor, subject: subject, reason: reason ?? details, now: now)
        try audit(ended)
        if write { try audit(kind, actor: actor, subject: subject, details: details) }
    }

    /// Writes the counts of refusal windows that have ended (all open windows with `all`, when the
    /// node stops).
    package func flushRefusals(now: Date = Date(), all: Bool = false) throws {
        try audit(refusals.ended(now: now, all: all))
    }

    private struct RepeatedRefusals: Encodable {
        var repeated: String
        var source: String
        var from: String
        var to: String
        var reasons: [String: Int]
    }

    private func audit(_ summaries: [RefusalAggregator.Summary]) throws {
        for summary in summaries {
            let details = Self.auditJSON(
                RepeatedRefusals(
                    repeated: "\(summary.repeated)", source: summary.source, from: CareTime.format(summary.start),
                    to: CareTime.format(summary.last), reasons: summary.reasons))
            try audit(summary.kind, actor: summary.actor, subject: summary.subject, details: details)
        }
    }

    /// The JSON of a value for an entry's `details`.
    package static func auditJSON(_ value: some Encodable) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Who runs a command on the node's own machine with `--data`: the operating-system user, as a
    /// system actor, `operating-system user alice (local operator)`.
    public static var localOperator: Actor { .system(localOperatorName) }

    /// `operating-system user NAME (local operator)`: the user from the password database for the
    /// effective user id (`getpwuid(3)`), else `$USER`, else the numeric id.
    public static var localOperatorName: String {
        let uid = geteuid()
        // getpwuid returns a pointer to static storage (or NULL); the name is copied at once.
        let name =
            getpwuid(uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } }
            ?? ProcessInfo.processInfo.environment["USER"] ?? "uid \(uid)"
        return "operating-system user \(name) (local operator)"
    }
}
