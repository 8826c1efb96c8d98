package import Foundation
package import Logging
import Synchronization
import TrustMeshCrypto
package import TrustMeshModel
package import TrustMeshNodeCore
package import TrustMeshPeer
package import TrustMeshPolicy
import TrustMeshStore

/// The emergency push (docs/ARCHITECTURE.md, "Emergency push"): a clinician at the holding trust
/// sends a study to a named clinician at another trust, and the receiving trust fetches it at once.
///
/// **Holder** (``push(studyUID:to:clinician:reason:kind:by:session:now:)``): checks the study is
/// held here and published by this trust, signs a ``PushGrant`` (study, receiving trust, named
/// clinician, reason, kind, expiry: the network policy's cap for an emergency), audits
/// `studyPushed` and sends the grant with the study's signed index record in a signed, sealed peer
/// request (`POST /peer/v1/push`). The receiver's refusal is audited here too, as `pushRefused`.
///
/// **Receiver** (``receive(from:payload:now:)``): decides with ``PushPolicy/accept(_:policy:)``
/// (sender allowed by this node, addressed here, signed by the sender, kind emergency, a reason and
/// a clinician, current, the sender's signed record of the study, not received before), audits
/// `pushReceived` or `pushRefused`, answers, and fetches the study with the ``FetchEngine`` under the
/// grant; the holder's ``FetchServer`` serves a grant only if it signed it itself. When the fetch
/// ends, ``notify`` is told (the e-mail).
package final class EmergencyPush: Sendable {
    /// What the receiver needs to be told when a pushed study has arrived, or could not be fetched.
    package struct Notice: Sendable {
        /// The grant the push carried.
        package var grant: PushGrant
        /// How the fetch ended.
        package var fetch: FetchProgress
    }

    /// A push as this node's audit log records it: sent from here, received here, or refused.
    package struct Entry: Sendable, Codable, Hashable {
        /// `sent`, `received` or `refused`.
        package var direction: String
        /// The entry's sequence number in this node's log.
        package var sequence: UInt64
        /// When, `YYYY-MM-DDTHH:MM:SSZ`.
        package var time: String
        /// The other trust.
        package var peer: String
        /// The study.
        package var studyUID: String
        /// The push's id, when a grant was made.
        package var pushID: String?
        /// The named clinician at the receiving trust.
        package var clinician: String?
        /// Why it was pushed.
        package var reason: String?
        /// Who pushed it (the holder's clinician), or who was refused.
        package var pushedBy: String
        /// For a refusal: the rule.
        package var rule: String?
        /// For a received push: whether the study is held here now (arrived whole).
        package var arrived: Bool?
        /// Whether information governance reviewed it here (`emergencyReviewed` naming its `pushID`
        /// after this entry).
        package var reviewed: Bool
    }

    /// What a successful push answers: the receiver accepted it and is fetching the study.
    package struct Outcome: Sendable, Codable {
        /// The push's id, which both trusts log.
        package var pushID: String
        /// The receiving trust.
        package var receiver: String
        /// The study.
        package var studyUID: String
        /// The receiver's words.
        package var message: String
    }

    /// A push the holder refused before sending it, or that the receiver refused.
    package struct Refusal: Error, CustomStringConvertible, Sendable {
        /// The push rule, or `unreachable` when the receiver did not answer.
        package var rule: String
        package var description: String
    }

    private struct Request: Codable {
        var grant: PushGrant
        var record: IndexRecord
    }

    private let node: LocalNode
    private let client: PeerClient
    private let fetches: FetchEngine
    private let topology: @Sendable () -> Topology
    /// The trusts this node accepts pushes from (`node run --accept-push-from`).
    package let acceptFrom: Set<TrustID>
    private let logger: Logger
    /// Called when a pushed study's fetch ends, off the request path (the e-mail).
    private let notify: @Sendable (Notice) async -> Void
    /// Pushes being accepted right now, so that one sent twice at once is accepted once.
    private let accepting = Mutex<Set<String>>([])

    /// - Parameters:
    ///   - acceptFrom: The trusts this node accepts pushes from; empty: it accepts none.
    ///   - notify: Told when a pushed study's fetch ends; it must not block for long.
    package init(
        node: LocalNode, client: PeerClient, fetches: FetchEngine, topology: @escaping @Sendable () -> Topology,
        acceptFrom: Set<TrustID>, logger: Logger, notify: @escaping @Sendable (Notice) async -> Void = { _ in }
    ) {
        self.node = node
        self.client = client
        self.fetches = fetches
        self.topology = topology
        self.acceptFrom = acceptFrom
        self.logger = logger
        self.notify = notify
    }

    // MARK: Holder

    /// Pushes a study held here to a named clinician at another trust (see the type's documentation).
    /// - Parameters:
    ///   - studyUID: The study; it must be held and published by this trust.
    ///   - to: The receiving trust's ODS code.
    ///   - clinician: The clinician there, 1 to 128 characters.
    ///   - reason: Why, 1 to 1000 characters: the justification both trusts' information governance reviews.
    ///   - kind: The push's kind; receivers accept only `emergency`.
    ///   - person: The signed-in clinician pushing it, whose role must be held at this trust.
    ///   - session: Their short session handle.
    /// - Returns: The receiver's acceptance.
    /// - Throws: ``Refusal`` naming what was wrong (audited here as `pushRefused`).
    package func push(
        studyUID: String, to: String, clinician: String, reason: String, kind: String = PushGrant.emergency,
        by person: Person, session: String? = nil, now: Date = Date()
    ) async throws -> Outcome {
        let me = node.configuration.trust
        let actor = Actor.person(person, session: session)
        let receiverCode = to.trimmingCharacters(in: .whitespaces).uppercased()
        var subject: [AuditEntry.SubjectKey: String] = [
            .peer: String(receiverCode.prefix(16)), .studyUID: String(studyUID.prefix(64)),
        ]
        func refuse(_ rule: String, _ message: String, details: String? = nil) throws -> Refusal {
            subject[.rule] = rule
            try node.audit(.pushRefused, actor: actor, subject: subject, details: details ?? message)
            logger.warning(
                "push refused", metadata: ["study": "\(studyUID)", "to": "\(receiverCode)", "rule": "\(rule)"])
            return Refusal(rule: rule, description: message)
        }
        guard person.organisation == me else {
            throw try refuse(
                "pushNotAllowed", "the signed-in role is held at \(person.organisation), not at \(me)")
        }
        guard let receiver = try? TrustID(receiverCode), receiver != me, topology().trust(receiver) != nil else {
            throw try refuse(
                PushRule.pushNotAddressedHere.rawValue,
                "to: '\(receiverCode.prefix(16))' is not another trust of this network")
        }
        let named = clinician.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...128).contains(named.count) else {
            throw try refuse(PushRule.pushNoClinician.rawValue, "clinician: \(PushRule.pushNoClinician.explanation)")
        }
        let why = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...1000).contains(why.count) else {
            throw try refuse(PushRule.pushNoReason.rawValue, "reason: \(PushRule.pushNoReason.explanation)")
        }
        let record = try node.store.index.latestStudyRecords(studyUID: studyUID).first { $0.origin == me }
        guard let record, let held = try node.store.study(uid: studyUID), held.nhsNumber == record.nhsNumber.digits
        else {
            throw try refuse(
                PushRule.pushStudyNotHeld.rawValue,
                "study \(studyUID.prefix(64)) is not held and published by \(me): only the trust whose study it is "
                    + "can push it")
        }
        subject[.nhsNumber] = record.nhsNumber.digits
        if try node.isOptedOut(record.nhsNumber) {
            throw try refuse(PushRule.pushOptedOut.rawValue, PushRule.pushOptedOut.explanation)
        }
        let lifetime = node.networkPolicy.cap(.emergency).components.seconds
        let grant = PushGrant.Draft(
            id: UUID().uuidString.lowercased(), holder: me, receiver: receiver, studyUID: studyUID,
            nhsNumber: record.nhsNumber, clinician: named, reason: why, kind: kind, pushedBy: person,
            issued: CareTime.format(now), expires: CareTime.format(now.addingTimeInterval(TimeInterval(lifetime)))
        ).signed(by: try node.cachedSigningKey())
        subject[.pushID] = grant.id
        // Audited before it leaves: a disclosure that cannot be logged does not happen.
        try node.audit(.studyPushed, actor: actor, subject: subject, details: LocalNode.auditJSON(grant))
        let answer: [UInt8]
        do {
            answer = try await client.call(
                receiver, path: FetchRoutes.push,
                payload: Array(try JSONEncoder().encode(Request(grant: grant, record: record))))
        } catch let refusal as PeerRefusal {
            let rule = refusal.rule?.name ?? refusal.code.rawValue
            throw try refuse(
                rule, "\(receiver) refused the push: \(refusal.message)", details: LocalNode.auditJSON(grant))
        } catch {
            throw try refuse(
                "unreachable",
                "\(receiver) did not answer the push (\(PeerTransportFailure(error)?.description ?? "\(error)"))",
                details: LocalNode.auditJSON(grant))
        }
        let outcome = try JSONDecoder().decode(Outcome.self, from: Data(answer))
        logger.info("study pushed", metadata: ["study": "\(studyUID)", "to": "\(receiver)", "push": "\(grant.id)"])
        return outcome
    }

    // MARK: Receiver

    /// Decides a push another trust sent (the peer route ``FetchRoutes/push``), audits it, and on
    /// acceptance starts fetching the study.
    /// - Returns: the sealed answer's payload (an ``Outcome``).
    /// - Throws: ``PeerRefusal`` ``PeerRefusal/Code/pushRefused`` naming the rule (audited here as
    ///   `pushRefused`), or what decoding throws.
    package func receive(from sender: Topology.Trust, payload: [UInt8], now: Date = Date()) throws -> Data {
        let request = try JSONDecoder().decode(Request.self, from: Data(payload))
        let grant = request.grant
        let record = request.record
        let me = node.configuration.trust
        let peer = Actor.system("peer \(sender.ods.code)")
        var subject: [AuditEntry.SubjectKey: String] = [
            .peer: sender.ods.code, .studyUID: String(grant.studyUID.prefix(64)), .pushID: String(grant.id.prefix(64)),
        ]
        guard accepting.withLock({ $0.insert(grant.id).inserted }) else {
            throw try refuse(.pushReplayed, grant, subject: subject, actor: peer)
        }
        defer { _ = accepting.withLock { $0.remove(grant.id) } }
        guard let key = sender.signingKey else { throw PeerRefusal(.unknownPeer, "\(sender.ods) has no key here") }
        let holds =
            record.origin == sender.ods && record.kind == .study && record.studyUID == grant.studyUID
            && record.nhsNumber == grant.nhsNumber && (try? record.verify(with: key)) != nil
        let seen = try node.store.audit.entries(kinds: [.pushReceived]).contains { $0[.pushID] == grant.id }
        let arrival = PushPolicy.Arrival(
            sender: sender.ods, senderKey: key, receiver: me, allowed: acceptFrom, grant: grant,
            senderHoldsStudy: holds, seenBefore: seen, now: now)
        if let rule = PushPolicy.accept(arrival, policy: node.networkPolicy) {
            throw try refuse(rule, grant, subject: subject, actor: peer)
        }
        subject[.nhsNumber] = grant.nhsNumber.digits
        try node.audit(.pushReceived, actor: peer, subject: subject, details: LocalNode.auditJSON(grant))
        logger.notice(
            "emergency push received",
            metadata: ["study": "\(grant.studyUID)", "from": "\(sender.ods)", "push": "\(grant.id)"])
        let notify = notify
        let fetch = try fetches.startPush(
            grant: grant, record: record, by: .system("emergency push from \(sender.ods.code)")
        ) { progress in
            Task { await notify(Notice(grant: grant, fetch: progress)) }
        }
        return try JSONEncoder().encode(
            Outcome(
                pushID: grant.id, receiver: me.code, studyUID: grant.studyUID,
                message: "\(me) accepted the push and is fetching the study (fetch \(fetch.id))"))
    }

    /// Audits a refused push at the receiver and returns the refusal to send.
    private func refuse(
        _ rule: PushRule, _ grant: PushGrant, subject: [AuditEntry.SubjectKey: String], actor: Actor
    ) throws -> PeerRefusal {
        var subject = subject
        subject[.rule] = rule.rawValue
        try node.audit(.pushRefused, actor: actor, subject: subject, details: rule.explanation)
        logger.warning(
            "emergency push refused",
            metadata: ["from": "\(subject[.peer] ?? "?")", "rule": "\(rule.rawValue)", "study": "\(grant.studyUID)"])
        return PeerRefusal(.pushRefused, rule.explanation, rule: ReportedRule(rule.rawValue))
    }

    // MARK: Listing

    /// The pushes this node's log records, newest first: sent from here (`studyPushed`), received
    /// here (`pushReceived`) and refused (`pushRefused`, either side): the inbox and the
    /// information governance page.
    package func entries() throws -> [Entry] {
        let decoder = JSONDecoder()
        var reviews: [String: UInt64] = [:]
        for review in try node.store.audit.entries(kinds: [.emergencyReviewed]) {
            if let id = review[.pushID] { reviews[id] = review.sequence }
        }
        return try node.store.audit.entries(kinds: [.studyPushed, .pushReceived, .pushRefused]).reversed().map {
            entry in
            let grant = entry.details.flatMap { try? decoder.decode(PushGrant.self, from: Data($0.utf8)) }
            let direction =
                entry.kind == .studyPushed ? "sent" : entry.kind == .pushReceived ? "received" : "refused"
            var arrived: Bool?
            if entry.kind == .pushReceived, let uid = entry[.studyUID] {
                arrived = try node.store.study(uid: uid) != nil
            }
            return Entry(
                direction: direction, sequence: entry.sequence, time: entry.time, peer: entry[.peer] ?? "",
                studyUID: entry[.studyUID] ?? "", pushID: entry[.pushID], clinician: grant?.clinician,
                reason: grant?.reason, pushedBy: grant?.pushedBy.name ?? entry.actor, rule: entry[.rule],
                arrived: arrived, reviewed: entry[.pushID].flatMap { reviews[$0] }.map { $0 > entry.sequence } ?? false)
        }
    }

    /// Records that information governance reviewed a push sent or received here, as
    /// `emergencyReviewed` (subject `pushID`, `studyUID`, `peer`, `nhsNumber`; details the note).
    /// - Throws: ``Refusal`` when no push with that id was sent or received here, the reviewer's
    ///   role is another trust's, or the note is over 1000 characters.
    package func review(pushID: String, by person: Person, session: String?, note: String?) throws {
        guard person.organisation == node.configuration.trust else {
            throw Refusal(rule: "reviewer", description: "the signed-in role is held at \(person.organisation)")
        }
        let kept = note?.trimmingCharacters(in: .whitespacesAndNewlines)
        let text = kept?.isEmpty == false ? kept : nil
        if let text, text.count > 1000 { throw Refusal(rule: "note", description: "note: at most 1000 characters") }
        guard
            let entry = try node.store.audit.entries(kinds: [.studyPushed, .pushReceived]).last(where: {
                $0[.pushID] == pushID
            })
        else {
            throw Refusal(rule: "pushID", description: "no push \(pushID.prefix(36)) was sent or received here")
        }
        var subject: [AuditEntry.SubjectKey: String] = [.pushID: pushID]
        for key in [AuditEntry.SubjectKey.studyUID, .peer, .nhsNumber] { subject[key] = entry[key] }
        try node.audit(.emergencyReviewed, actor: .person(person, session: session), subject: subject, details: text)
    }
}
