public import Foundation
public import TrustMeshModel
package import TrustMeshPolicy
import TrustMeshStore

/// Why this trust may not record (or withdraw) an opt-out, in words for the person who tried.
public struct OptOutInputError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Opt-outs with a governance of their own: who may record one (`OptOutPolicy`, judged from this
/// node's copy of the index every time the state is asked for), recording and withdrawing one here,
/// auditing the records refused, and the list the information governance page shows.
extension LocalNode {
    /// The patient's opt-out state from this node's copy of the index, under the network's policy.
    package func optOutDecision(_ nhs: NHSNumber) throws -> OptOutPolicy.Decision {
        OptOutPolicy.decide(try store.index.records(nhs: nhs), policy: networkPolicy)
    }

    /// Records (or, with `withdraw`, withdraws) a patient's opt-out, signed by this node and gossiped
    /// to every node.
    ///
    /// The node checks first, by the rule every receiver applies (`OptOutPolicy`), that this trust may:
    /// it has announced imaging for the patient, or it holds a current care relationship for them
    /// recorded by a clinician its sign-in verified (which the record then carries). A refusal is
    /// audited as `optOutRefused` and thrown as ``OptOutInputError``. Audited as `optOut` or
    /// `optOutWithdrawn` naming `actor`, then `recordPublished`.
    /// - Parameters:
    ///   - nhs: The patient.
    ///   - withdraw: Withdraw the patient's opt-out instead of recording one.
    ///   - expression: Where the patient's wish is written down (a form, a letter), 1 to 200 characters.
    ///   - actor: Who records it: the signed-in person, or ``localOperator`` for the CLI with `--data`.
    ///   - now: The issue time.
    /// - Returns: The record published.
    /// - Throws: ``OptOutInputError`` naming what is wrong.
    @discardableResult
    public func recordOptOut(
        nhs: NHSNumber, withdraw: Bool = false, expression: String, by actor: Actor, now: Date = Date()
    ) throws -> IndexRecord {
        let trust = configuration.trust
        let expression = expression.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(expression.count) else {
            throw OptOutInputError(
                description: "reference: say where the patient's wish is written down (a form or letter "
                    + "reference), 1 to 200 characters")
        }
        let records = try store.index.records(nhs: nhs)
        let policy = networkPolicy
        let key = try signingKey()
        let kind: IndexRecord.Kind = withdraw ? .optOutWithdrawn : .optOut
        let recordedBy = String(actor.displayName.prefix(200)).trimmingCharacters(in: .whitespacesAndNewlines)
        func draft(_ care: CareRelationship?, sequence: UInt64) -> IndexRecord.Draft {
            IndexRecord.Draft(
                origin: trust, sequence: sequence, kind: kind, nhsNumber: nhs, issuedAt: CareTime.format(now),
                statement: OptOutStatement(
                    recordedBy: recordedBy, recorder: actor.person, expression: expression, care: care))
        }
        // Judged as if every record this node has published came before it (it will).
        var care: CareRelationship?
        var refusal = OptOutPolicy.refusal(
            of: draft(nil, sequence: .max).signed(by: key), among: records, policy: policy)
        if refusal == .noImagingOrCare {
            let mine = try store.care.all().filter {
                $0.nhsNumber == nhs && $0.trust == trust && SharingPolicy.isVerified($0)
                    && SharingPolicy.isCurrent($0, now: now, policy: policy)
            }
            if let chosen = mine.max(by: { $0.start < $1.start }) {
                care = chosen
                refusal = OptOutPolicy.refusal(
                    of: draft(chosen, sequence: .max).signed(by: key), among: records, policy: policy)
            }
        }
        if let refusal {
            try audit(
                .optOutRefused, actor: actor,
                subject: [
                    .nhsNumber: nhs.digits, .origin: trust.code, .recordKind: kind.rawValue, .rule: refusal.rawValue,
                ],
                details: refusal.explanation)
            throw OptOutInputError(
                description: "\(trust) may not record \(withdraw ? "a withdrawal of an opt-out" : "an opt-out") for "
                    + "NHS number \(nhs): \(refusal.explanation). A trust may record one only if it has announced "
                    + "imaging for the patient or holds a current care relationship for them recorded by a "
                    + "clinician signed in at this trust (trustmesh care add --node URL)")
        }
        if withdraw, !(try optOutDecision(nhs).optedOut) {
            throw OptOutInputError(description: "NHS number \(nhs) is not opted out: there is nothing to withdraw")
        }
        guard
            let record = try store.index.publish(
                origin: trust, { sequence in draft(care, sequence: sequence).signed(by: key) })
        else { throw OptOutInputError(description: "the record could not be published") }
        try audit(
            withdraw ? .optOutWithdrawn : .optOut, actor: actor,
            subject: [.nhsNumber: nhs.digits, .recordSequence: "\(record.sequence)"], details: expression)
        try audit(.recordPublished, actor: .system("node"), subject: Self.auditSubject(record))
        return record
    }

    /// Audits, as `optOutRefused`, each opt-out record or withdrawal among `records` (just stored
    /// from gossip) that this node does not apply: verified and kept, never applied. The judgement is
    /// made again whenever the state is asked for; this entry records it on arrival.
    package func auditRefusedOptOuts(_ records: [IndexRecord]) throws {
        for record in records where record.kind.isOptOutKind {
            let held = try store.index.records(nhs: record.nhsNumber)
            guard let refusal = OptOutPolicy.refusal(of: record, among: held, policy: networkPolicy) else { continue }
            try audit(
                .optOutRefused, actor: .system("gossip"),
                subject: Self.auditSubject(record).merging([.rule: refusal.rawValue]) { $1 },
                details: "\(record.origin)'s \(record.kind.rawValue) record is not applied: \(refusal.explanation)")
        }
    }

    /// Every patient with an opt-out record or withdrawal, with their state: for the information
    /// governance page (records refused, and the one in force).
    package func optOutDecisions() throws -> [(nhs: NHSNumber, decision: OptOutPolicy.Decision)] {
        try store.index.patientsWithOptOutRecords().map { ($0, try optOutDecision($0)) }
    }
}
