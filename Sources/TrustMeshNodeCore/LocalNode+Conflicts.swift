package import Foundation
import TrustMeshCrypto
package import TrustMeshModel
package import TrustMeshStore

/// Why a conflict could not be resolved or recorded, in words for the operator who tried.
package struct ConflictInputError: Error, CustomStringConvertible, Sendable {
    package var description: String
}

/// Which record stays in the index when an operator resolves an index-record conflict.
package enum ConflictKeep: String, Sendable, CaseIterable {
    /// The record this node held stays; the other stays only as evidence.
    case held
    /// The other record replaces the held one in the index (the origin says it is the genuine one);
    /// the held one stays as evidence.
    case other
}

/// Equivocations: two statements signed by one trust that cannot both be true. Gossip records the
/// index-record ones (``SQLiteIndexLog``); membership and certificate gossip record theirs through
/// the same calls. Every conflict is kept for good with both statements, audited once
/// (`equivocation`), logged at critical, and listed on the operator and information-governance
/// pages until an operator resolves it (`equivocationResolved`). While a trust has an unresolved
/// index-record conflict, gossip stores none of its new records (``heldOrigins()``), and the
/// federated query shows its studies as they were before the fork (``forkPoints()``).
extension LocalNode {
    /// One conflict and its evidence.
    package typealias Conflict = ConflictTable.Conflict
    /// What kind of statements conflict.
    package typealias ConflictKind = ConflictTable.Kind

    /// Keeps the evidence of an equivocation and, the first time this pair is seen, audits it as
    /// `equivocation` (subject `peer`, `rule` = the kind, and `recordSequence`, `version` or
    /// `serial`; details `{"held", "other", "reason"}` with both statements) and logs it at
    /// critical on standard error.
    /// - Parameters:
    ///   - kind: What the statements are.
    ///   - trust: The trust whose key signed both.
    ///   - number: The sequence, version or serial both claim.
    ///   - reason: Why they cannot both be true, in a sentence.
    ///   - first: The statement this node held, as signed JSON.
    ///   - second: The statement that contradicts it, as signed JSON.
    ///   - actor: Who found it, for the audit log: `gossip` by default (`network gossip` for
    ///     membership and certificates).
    ///   - now: When it was found.
    /// - Returns: `true` if it is new; `false` if this pair was recorded before (resolved or not) or
    ///   the trust already has ``ConflictTable/unresolvedLimit`` unresolved conflicts of this kind.
    /// - Throws: ``ConflictInputError`` if either statement is not JSON; a database or audit error.
    @discardableResult
    package func recordConflict(
        kind: ConflictKind, trust: TrustID, number: UInt64, reason: String, first: Data, second: Data,
        actor: Actor = .system("gossip"), now: Date = Date()
    ) throws -> Bool {
        for (name, statement) in [("first", first), ("second", second)] {
            guard (try? JSONSerialization.jsonObject(with: statement, options: [.fragmentsAllowed])) != nil else {
                throw ConflictInputError(description: "the \(name) statement of a \(kind) conflict is not JSON")
            }
        }
        let time = CareTime.format(now)
        guard
            try store.conflicts.record(
                kind: kind, trust: trust, number: number, reason: reason, first: first, second: second,
                detectedAt: time) != nil
        else { return false }
        let line =
            "\(time) critical trustmesh.\(configuration.trust.code) : kind=\(kind) number=\(number) trust=\(trust) "
            + "[equivocation] \(reason)\n"
        FileHandle.standardError.write(Data(line.utf8))
        let quoted = String(decoding: try JSONEncoder().encode(reason), as: UTF8.self)
        let details =
            "{\"held\":" + String(decoding: first, as: UTF8.self) + ",\"other\":"
            + String(decoding: second, as: UTF8.self) + ",\"reason\":" + quoted + "}"
        try audit(
            .equivocation, actor: actor,
            subject: [.peer: trust.code, .rule: kind.rawValue, kind.subjectKey: "\(number)"], details: details)
        return true
    }

    /// Every conflict this node holds, resolved or not, oldest first.
    /// - Throws: A database error.
    package func conflicts() throws -> [Conflict] {
        try store.conflicts.all()
    }

    /// The unresolved conflicts, oldest first.
    /// - Parameters:
    ///   - trust: Only this trust's, if given.
    ///   - kind: Only this kind, if given.
    /// - Throws: A database error.
    package func unresolvedConflicts(of trust: TrustID? = nil, kind: ConflictKind? = nil) throws -> [Conflict] {
        try store.conflicts.unresolved(kind: kind, trust: trust)
    }

    /// The trusts whose new index records gossip does not store: those with an unresolved
    /// index-record or certificate conflict (two certificates with one serial: its root signed
    /// both, so which node keys are its own is in doubt), never this node's own trust.
    /// - Throws: A database error.
    package func heldOrigins() throws -> Set<TrustID> {
        let conflicts = try unresolvedConflicts(kind: .indexRecord) + unresolvedConflicts(kind: .certificate)
        return Set(conflicts.map(\.trust)).subtracting([configuration.trust])
    }

    /// Per held trust, the lowest sequence in an unresolved conflict: the federated query lists that
    /// trust's studies from its records below it only (the view before the fork).
    /// - Throws: A database error.
    package func forkPoints() throws -> [TrustID: UInt64] {
        var forks: [TrustID: UInt64] = [:]
        for conflict in try unresolvedConflicts(kind: .indexRecord) where conflict.trust != configuration.trust {
            forks[conflict.trust] = min(forks[conflict.trust] ?? .max, conflict.number)
        }
        return forks
    }

    /// Resolves a conflict: both statements stay as evidence; the trust's new records are stored
    /// again once none of its conflicts is unresolved (anti-entropy brings those it missed). Audited
    /// as `equivocationResolved` naming `actor` (subject `peer`, `rule`, and the number; details the
    /// note, after "kept the other record: " when `keep` is ``ConflictKeep/other``).
    /// - Parameters:
    ///   - id: The conflict's number (``Conflict/id``).
    ///   - actor: Who resolves it: the signed-in operator, or ``localOperator``.
    ///   - note: Why, 1 to 500 characters: what the trust said, what was checked.
    ///   - keep: For an index-record conflict, which record stays in the index: the held one (the
    ///     default) or the other, which then replaces it.
    ///   - now: When.
    /// - Returns: The conflict as resolved.
    /// - Throws: ``ConflictInputError`` if there is no such conflict, it was resolved before, the
    ///   note is empty or too long, or `keep` is ``ConflictKeep/other`` for another kind; a database
    ///   or audit error.
    @discardableResult
    package func resolveConflict(
        id: Int64, by actor: Actor, note: String, keep: ConflictKeep = .held, now: Date = Date()
    ) throws -> Conflict {
        let note = note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...500).contains(note.count) else {
            throw ConflictInputError(
                description: "note: say why it is resolved (what the trust said), 1 to 500 characters")
        }
        guard let conflict = try store.conflicts.conflict(id: id) else {
            throw ConflictInputError(description: "no conflict number \(id) at this node (trustmesh conflicts list)")
        }
        var replacing: IndexRecord?
        if keep == .other {
            guard let records = conflict.records else {
                throw ConflictInputError(
                    description: "conflict \(id) is of \(conflict.kind) statements: only an index-record conflict "
                        + "can keep the other record")
            }
            replacing = records.other
        }
        switch try store.conflicts.resolve(
            id: id, at: CareTime.format(now), by: actor.displayName, note: note, replacing: replacing)
        {
        case .unknown:
            throw ConflictInputError(description: "no conflict number \(id) at this node (trustmesh conflicts list)")
        case .alreadyResolved(let earlier):
            throw ConflictInputError(
                description: "conflict \(id) was resolved at \(earlier.resolution?.at ?? "?") by "
                    + "\(earlier.resolution?.by ?? "?")")
        case .resolved(let resolved):
            try audit(
                .equivocationResolved, actor: actor,
                subject: [
                    .peer: resolved.trust.code, .rule: resolved.kind.rawValue,
                    resolved.kind.subjectKey: "\(resolved.number)",
                ],
                details: keep == .other ? "kept the other record: " + note : note)
            return resolved
        }
    }
}

extension ConflictTable.Conflict {
    /// One line for each of the two statements, for the pages and `trustmesh conflicts list`: an
    /// index record's kind, study, modalities, issue time, masked NHS number and content hash;
    /// another statement's size and hash.
    package var statementSummaries: (held: String, other: String) {
        if let (held, other) = records { return (Self.summary(held), Self.summary(other)) }
        return (Self.summary(first), Self.summary(second))
    }

    private static func summary(_ record: IndexRecord) -> String {
        var parts = ["\(record.kind) #\(record.sequence)"]
        if let uid = record.studyUID { parts.append("study \(uid)") }
        if !record.modalities.isEmpty { parts.append(record.modalities.joined(separator: "/")) }
        parts.append("NHS number \(record.nhsNumber)")
        parts.append("issued \(record.issuedAt)")
        parts.append("content hash \(record.contentHash.hex.prefix(16))…")
        return parts.joined(separator: ", ")
    }

    private static func summary(_ statement: Data) -> String {
        "\(statement.count) bytes, BLAKE2b-256 \(BLAKE2b256.hash(Array(statement)).hex.prefix(16))…"
    }
}
