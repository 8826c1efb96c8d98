import Foundation
public import TrustMeshCrypto
public import TrustMeshModel
public import TrustMeshPolicy

/// Rebuilds what happened across trusts from their audit logs, and flags what the policy forbids or
/// the logs cannot account for.
///
/// The replay is lenient where ``AuditVerification`` is strict: it reports every problem it can
/// see, as ``AuditFinding``s, and carries on with the entries that are authentic (hash and
/// signature hold). It finds:
///
/// - ``AuditFinding/Kind-swift.struct/servedWithoutValidCare`` and
///   ``AuditFinding/Kind-swift.struct/servedOptedOut``: for each `fetchServed`, it re-runs
///   `SharingPolicy.decide` (the very function the holder ran) on the care relationship recorded in
///   the entry's details, the requester's pinned key, the study's NHS number as the holder's own
///   log knew it (from `ingest` and `recordPublished` entries; the entry's `nhsNumber` otherwise),
///   whether the patient had opted out, and the entry's time. A patient counts as opted out if the
///   holder's log recorded the opt-out (`optOut`, or an index record of kind `optOut` published or
///   received) before the share, or any trust's log recorded it at or before the share's time. A
///   share under an emergency push (`pushID` in the subject) is judged by `PushPolicy.serve` on the
///   push grant its details record instead.
/// - ``AuditFinding/Kind-swift.struct/unmatchedFetch``: a `fetchServed` with a `transferID` for
///   which the requester's log holds no `fetchCompleted` or `fetchAbandoned` with that id, or the
///   reverse. Checked only when both trusts' logs are supplied.
/// - ``AuditFinding/Kind-swift.struct/sequenceGap``: entries missing from a log.
/// - ``AuditFinding/Kind-swift.struct/checkpointMismatch``: a signed tree head (held by any trust)
///   or a version 1 checkpoint (held by a peer, or recorded in any log) that the log contradicts.
/// - ``AuditFinding/Kind-swift.struct/chainInvalid``: entries that are not authentic or not in
///   their place, and logs with no pinned key.
/// - ``AuditFinding/Kind-swift.struct/revokedKey``: with a network's statements
///   (``AuditKeys/init(network:pinned:)``), an entry signed with a key its trust revoked, dated at
///   or after the revocation's `since`; the message names the revocation. Such entries are left out
///   of the timeline; those signed before `since` stay.
/// - ``AuditFinding/Kind-swift.struct/emergencyAwaitingReview``: an emergency care relationship
///   (`careKind` `emergency` in its entries) used for a fetch or a share (`fetchRequested`,
///   `fetchServed`) with no `emergencyReviewed` entry for it, in any log, at or after its last use.
/// - ``AuditFinding/Kind-swift.struct/careNeverUsed``: a care relationship recorded (`careAdded`)
///   with no `fetchRequested` or `fetchServed` under it in the logs given.
/// - ``AuditFinding/Kind-swift.struct/tooManyCareRecords``: a person (issuer and subject) who
///   recorded more than ``NetworkPolicy/maxCareRecordsPerPersonPerDay`` care relationships in one
///   UTC day.
///
/// Pure: the same logs, keys and policy always give the same report.
///
/// ```swift
/// let report = AuditReplay.run(exports: exports, keys: topologyKeys)
/// for finding in report.findings { print(finding.message) }
/// ```
public enum AuditReplay {
    /// Replays several trusts' exports.
    /// - Parameters:
    ///   - exports: Parsed exports; entries are grouped by their trust, whichever file holds them.
    ///   - keys: Each trust's pinned signing key (the topology's).
    ///   - policy: The network's policy; the nodes' and the replay's must be the same.
    /// - Returns: The report.
    public static func run(
        exports: [AuditExport], keys: [TrustID: VerifyingKey], policy: NetworkPolicy = NetworkPolicy()
    ) -> AuditReplayReport {
        run(exports: exports, keys: AuditKeys(pinned: keys), policy: policy)
    }

    /// Replays several trusts' exports with pinned keys or a network's statements (each entry,
    /// tree head and checkpoint checked against the keys of its trust valid at its time, and a care
    /// relationship against the requester's keys valid when it started).
    /// - Parameters:
    ///   - exports: Parsed exports; entries are grouped by their trust, whichever file holds them.
    ///   - keys: Where each trust's signing keys come from.
    ///   - policy: The network's policy; the nodes' and the replay's must be the same.
    /// - Returns: The report.
    public static func run(
        exports: [AuditExport], keys: AuditKeys, policy: NetworkPolicy = NetworkPolicy()
    ) -> AuditReplayReport {
        var state = State(keys: keys, policy: policy)
        state.load(exports)
        state.checkCheckpoints(exports)
        state.checkTreeHeads(exports)
        state.replayShares()
        state.matchFetches()
        state.checkCareRelationships()
        return state.report()
    }

    /// An authentic entry and the key that signed it.
    private struct Signed {
        var entry: AuditEntry
        var key: VerifyingKey
    }

    private struct State {
        let keys: AuditKeys
        let policy: NetworkPolicy
        /// Each trust's authentic entries, by sequence.
        var logs: [TrustID: [UInt64: Signed]] = [:]
        var highest: [TrustID: UInt64] = [:]
        var findings: [AuditFinding] = []
        var notes: [String] = []

        init(keys: AuditKeys, policy: NetworkPolicy) {
            self.keys = keys
            self.policy = policy
        }

        // MARK: Chains

        mutating func load(_ exports: [AuditExport]) {
            var copies: [TrustID: [UInt64: AuditEntry]] = [:]
            for entry in exports.flatMap(\.entries) {
                if let held = copies[entry.trust]?[entry.sequence] {
                    if held != entry {
                        add(
                            .chainInvalid, entry, rule: "conflicting copies",
                            "\(entry.trust) #\(entry.sequence): two different entries with this number were "
                                + "supplied (a fork); the first was replayed")
                    }
                    continue
                }
                copies[entry.trust, default: [:]][entry.sequence] = entry
            }
            for (trust, bySequence) in copies.sorted(by: { $0.key < $1.key }) {
                let ordered = bySequence.values.sorted { $0.sequence < $1.sequence }
                highest[trust] = ordered.last?.sequence ?? 0
                guard let source = keys.source(of: trust) else {
                    findings.append(
                        AuditFinding(
                            kind: .chainInvalid, trust: trust, rule: "unknown trust",
                            message: AuditError.unknownTrust(trust).description + "; its entries were not replayed"))
                    continue
                }
                let inspection = AuditChain.inspect(ordered, trust: trust, source: source)
                for problem in inspection.problems {
                    let entry = bySequence[problem.sequence ?? 0]
                    findings.append(
                        AuditFinding(
                            kind: problem.isGap ? .sequenceGap : problem.isRevokedKey ? .revokedKey : .chainInvalid,
                            trust: trust,
                            sequence: problem.sequence, time: entry?.time, rule: problem.check,
                            message: problem.description))
                }
                var signed: [UInt64: Signed] = [:]
                for (entry, key) in zip(inspection.authentic, inspection.keys) {
                    signed[entry.sequence] = Signed(entry: entry, key: key)
                }
                logs[trust] = signed
            }
        }

        mutating func checkCheckpoints(_ exports: [AuditExport]) {
            let recorded = logs.map { ($0.key, $0.value.values.map(\.entry)) }
            for held in AuditVerification.checkpoints(exports: exports, recordedIn: recorded) {
                let checkpoint = held.checkpoint
                let trust = checkpoint.trust
                guard let log = logs[trust], let source = keys.source(of: trust) else {
                    notes.append(
                        "The checkpoint of \(trust) #\(checkpoint.sequence) held by \(held.heldBy) was not checked: "
                            + "\(trust)'s log was not supplied or has no pinned key.")
                    continue
                }
                let sequence = checkpoint.sequence
                let judgement = AuditKeys.judge(
                    source, trust: trust, time: checkpoint.time, logKeys: Self.candidates(log[sequence]?.key, source)
                ) { (try? checkpoint.verify(with: $0)) != nil }
                let error: AuditError?
                if sequence == 0 || judgement.key == nil {
                    error = .badCheckpoint(
                        trust: trust, sequence: sequence, heldBy: held.heldBy,
                        why: judgement.why(time: checkpoint.time, source: source))
                } else if let end = log.keys.max(), sequence > end {
                    // Entries past the last authentic one do not count: garbage appended after a
                    // truncation must not hide it.
                    error = .truncated(trust: trust, sequence: sequence, logEnd: end, heldBy: held.heldBy)
                } else if log.isEmpty {
                    error = .truncated(trust: trust, sequence: sequence, logEnd: 0, heldBy: held.heldBy)
                } else if let entry = log[sequence]?.entry, entry.hash != checkpoint.headHash {
                    error = .rewritten(
                        trust: trust, sequence: sequence, logHash: entry.hash, checkpointHash: checkpoint.headHash,
                        heldBy: held.heldBy)
                } else {
                    error = nil
                }
                if let error {
                    findings.append(
                        AuditFinding(
                            kind: .checkpointMismatch, trust: trust, sequence: sequence, time: checkpoint.time,
                            peer: held.heldBy, rule: error.check, message: error.description))
                }
            }
        }

        /// Every held tree head against the authentic entries of its trust: its signature, the log
        /// reaching its size, and the Merkle root of that many entries.
        mutating func checkTreeHeads(_ exports: [AuditExport]) {
            var trees: [TrustID: MerkleTree.InMemory] = [:]
            for held in AuditVerification.treeHeads(exports: exports) {
                let head = held.treeHead
                let trust = head.trust
                let size = head.treeSize
                guard let log = logs[trust], let source = keys.source(of: trust) else {
                    notes.append(
                        "The tree head of \(trust) at \(size) entries held by \(held.heldBy) was not checked: "
                            + "\(trust)'s log was not supplied or has no pinned key.")
                    continue
                }
                // The tree of the authentic entries 1, 2, 3… up to the first one missing.
                let tree =
                    trees[trust]
                    ?? {
                        var tree = MerkleTree.InMemory()
                        var sequence: UInt64 = 1
                        while let signed = log[sequence] {
                            tree.append(MerkleTree.leafHash(signed.entry.canonicalBytes))
                            sequence += 1
                        }
                        return tree
                    }()
                trees[trust] = tree
                let judgement = AuditKeys.judge(
                    source, trust: trust, time: head.time, logKeys: Self.candidates(log[size]?.key, source)
                ) { (try? head.verify(with: $0)) != nil }
                let error: AuditError?
                if size == 0 || judgement.key == nil {
                    error = .badTreeHead(
                        trust: trust, treeSize: size, heldBy: held.heldBy,
                        why: judgement.why(time: head.time, source: source))
                } else if size > (log.keys.max() ?? 0) {
                    error = .truncated(trust: trust, treeSize: size, logEnd: log.keys.max() ?? 0, heldBy: held.heldBy)
                } else if size > tree.size {
                    notes.append(
                        "The tree head of \(trust) at \(size) entries held by \(held.heldBy) was not checked: "
                            + "entries before it are missing or not authentic.")
                    error = nil
                } else if let root = try? tree.root(size: size), root != head.rootHash {
                    error = .rewritten(
                        trust: trust, treeSize: size, logRoot: root, headRoot: head.rootHash, heldBy: held.heldBy)
                } else {
                    error = nil
                }
                if let error {
                    findings.append(
                        AuditFinding(
                            kind: .checkpointMismatch, trust: trust, sequence: size, time: head.time,
                            peer: held.heldBy, rule: error.check, message: error.description))
                }
            }
        }

        /// With a pinned key, the keys a tree head or checkpoint may be signed with: the key of the
        /// entry it ends at (if authentic), then the pinned key.
        static func candidates(_ logKey: VerifyingKey?, _ source: AuditKeys.Source) -> [VerifyingKey] {
            guard case .pinned(let pinned) = source else { return [] }
            return [logKey, pinned].compactMap { $0 }
        }

        /// The requester's key the holder checked the care relationship with: its pinned key; with a
        /// network, as the holder does, the key valid when the relationship started that signed it
        /// (else the first valid then, else one valid at the share).
        func requesterKey(_ peer: TrustID, care: CareRelationship?, at seconds: Int64) -> VerifyingKey? {
            switch keys.source(of: peer) {
            case nil: return nil
            case .pinned(let key): return key
            case .network(let directory):
                let then = care?.startDate.map { directory.signingKeys(of: peer, at: $0) } ?? []
                return then.first { (try? care?.verify(with: $0)) != nil } ?? then.first
                    ?? directory.signingKeys(of: peer, at: Date(timeIntervalSince1970: TimeInterval(seconds))).first
            }
        }

        // MARK: Shares

        /// An opt-out, or its withdrawal, as some log recorded it.
        struct OptOut {
            var trust: TrustID
            var sequence: UInt64
            var time: Int64
            /// False for a withdrawal.
            var optsOut: Bool
        }

        mutating func replayShares() {
            // Opt-out records some node judged its origin may not record (optOutRefused) never count.
            var refused: Set<String> = []
            for log in logs.values {
                for signed in log.values where signed.entry.kind == .optOutRefused {
                    if let origin = signed.entry[.origin], let sequence = signed.entry[.recordSequence] {
                        refused.insert(origin + "#" + sequence)
                    }
                }
            }
            var optOuts: [NHSNumber: [OptOut]] = [:]
            for (trust, log) in logs {
                for signed in log.values {
                    let entry = signed.entry
                    guard let optsOut = Self.optOutEffect(entry, refused: refused), let nhs = Self.nhs(entry),
                        let time = CareTime.unixSeconds(entry.time)
                    else { continue }
                    optOuts[nhs, default: []].append(
                        OptOut(trust: trust, sequence: entry.sequence, time: time, optsOut: optsOut))
                }
            }
            for (holder, log) in logs.sorted(by: { $0.key < $1.key }) {
                var studies: [String: NHSNumber] = [:]
                var optedOutHere: Set<NHSNumber> = []
                for signed in log.values.sorted(by: { $0.entry.sequence < $1.entry.sequence }) {
                    let entry = signed.entry
                    if let optsOut = Self.optOutEffect(entry, refused: refused), let nhs = Self.nhs(entry) {
                        if optsOut { optedOutHere.insert(nhs) } else { optedOutHere.remove(nhs) }
                    }
                    if [AuditEntry.Kind.ingest, .recordPublished, .fetchCompleted].contains(entry.kind),
                        (entry[.recordKind] ?? "study") == "study", let uid = entry[.studyUID],
                        let nhs = Self.nhs(entry)
                    {
                        studies[uid] = nhs
                    }
                    if entry.kind == .fetchServed {
                        judgeShare(
                            entry, holder: holder, studies: studies, optedOutHere: optedOutHere, optOuts: optOuts)
                    }
                }
            }
        }

        private mutating func judgeShare(
            _ entry: AuditEntry, holder: TrustID, studies: [String: NHSNumber], optedOutHere: Set<NHSNumber>,
            optOuts: [NHSNumber: [OptOut]]
        ) {
            let uid = entry[.studyUID]
            let study = uid ?? "(no study UID recorded)"
            guard let peerText = entry[.peer], let peer = try? TrustID(peerText) else {
                add(
                    .servedWithoutValidCare, entry, rule: PolicyRule.unknownPeer.rawValue,
                    "\(holder) #\(entry.sequence) served study \(study) without recording a valid requesting trust")
                return
            }
            guard let seconds = CareTime.unixSeconds(entry.time) else {
                add(
                    .servedWithoutValidCare, entry, peer: peer, rule: nil,
                    "\(holder) #\(entry.sequence) served study \(study) to \(peer) at an unreadable time")
                return
            }
            let nhs = uid.flatMap { studies[$0] } ?? Self.nhs(entry)
            if entry[.pushID] != nil {
                judgePushShare(
                    entry, holder: holder, peer: peer, seconds: seconds, nhs: nhs, optedOutHere: optedOutHere,
                    optOuts: optOuts)
                return
            }
            let care = entry.details.flatMap { try? JSONDecoder().decode(CareRelationship.self, from: Data($0.utf8)) }
            // The latest opt-out or withdrawal logged anywhere at or before the share decides (an
            // opt-out wins a tie: the replay errs towards finding).
            let latest = nhs.flatMap { optOuts[$0] }?.filter { $0.time <= seconds }.max {
                ($0.time, $0.optsOut ? 1 : 0) < ($1.time, $1.optsOut ? 1 : 0)
            }
            let earlier = latest?.optsOut == true ? latest : nil
            let knewHere = nhs.map(optedOutHere.contains) ?? false
            let decision = SharingPolicy.decide(
                SharingRequest(
                    requester: peer, requesterKey: requesterKey(peer, care: care, at: seconds), care: care,
                    studyNHSNumber: nhs,
                    optedOut: knewHere || earlier != nil, now: Date(timeIntervalSince1970: TimeInterval(seconds))),
                policy: policy)
            guard case .refuse(let rule) = decision else { return }
            let served = "\(holder) #\(entry.sequence) served study \(study) to \(peer)"
            if rule == .optedOut {
                var message = "\(served) after the patient (NHS number \(nhs?.description ?? "unknown")) opted out"
                if let earlier {
                    message +=
                        " (recorded at \(earlier.trust) #\(earlier.sequence), "
                        + CareTime.format(unixSeconds: earlier.time) + ")"
                }
                if !knewHere { message += "; \(holder)'s log does not record learning of the opt-out" }
                add(.servedOptedOut, entry, peer: peer, rule: rule.rawValue, message)
            } else {
                var reason = rule.explanation(for: care, policy: policy)
                if care == nil, entry.details != nil { reason += " (the recorded details are not a care relationship)" }
                add(
                    .servedWithoutValidCare, entry, peer: peer, rule: rule.rawValue,
                    "\(served), but the sharing policy refuses it: \(reason)")
            }
        }

        /// A share under an emergency push (`pushID` in its subject): `PushPolicy.serve` re-run on the
        /// grant recorded in the details, the holder's keys and the patient's opt-out as for a care
        /// relationship's share.
        private mutating func judgePushShare(
            _ entry: AuditEntry, holder: TrustID, peer: TrustID, seconds: Int64, nhs: NHSNumber?,
            optedOutHere: Set<NHSNumber>, optOuts: [NHSNumber: [OptOut]]
        ) {
            let grant = entry.details.flatMap { try? JSONDecoder().decode(PushGrant.self, from: Data($0.utf8)) }
            let served = "\(holder) #\(entry.sequence) served study \(entry[.studyUID] ?? "?") to \(peer)"
            guard let grant else {
                add(
                    .servedWithoutValidCare, entry, peer: peer, rule: PushRule.pushNotIssuedHere.rawValue,
                    "\(served) under a push whose grant is not recorded")
                return
            }
            let now = Date(timeIntervalSince1970: TimeInterval(seconds))
            var holderKeys: [VerifyingKey] = []
            switch keys.source(of: holder) {
            case .pinned(let key): holderKeys = [key]
            case .network(let directory):
                holderKeys = grant.issuedDate.map { directory.signingKeys(of: holder, at: $0) } ?? []
            case nil: break
            }
            let latest = nhs.flatMap { optOuts[$0] }?.filter { $0.time <= seconds }.max {
                ($0.time, $0.optsOut ? 1 : 0) < ($1.time, $1.optsOut ? 1 : 0)
            }
            let optedOut = (nhs.map(optedOutHere.contains) ?? false) || latest?.optsOut == true
            guard
                let rule = PushPolicy.serve(
                    grant, holder: holder, holderKeys: holderKeys, requester: peer, studyUID: entry[.studyUID] ?? "",
                    studyNHSNumber: nhs, optedOut: optedOut, now: now, policy: policy)
            else { return }
            add(
                rule == .pushOptedOut ? .servedOptedOut : .servedWithoutValidCare, entry, peer: peer,
                rule: rule.rawValue, "\(served) under emergency push \(grant.id.prefix(8))…, but: \(rule.explanation)")
        }

        /// Whether an entry records an opt-out (`true`) or its withdrawal (`false`), or neither
        /// (`nil`): a local `optOut`/`optOutWithdrawn`, or a published or received record of that
        /// kind that no log refused.
        static func optOutEffect(_ entry: AuditEntry, refused: Set<String>) -> Bool? {
            if entry.kind == .optOut { return true }
            if entry.kind == .optOutWithdrawn { return false }
            guard [AuditEntry.Kind.recordPublished, .recordReceived].contains(entry.kind),
                let kind = entry[.recordKind], kind == "optOut" || kind == "optOutWithdrawn"
            else { return nil }
            if let origin = entry[.origin], let sequence = entry[.recordSequence],
                refused.contains(origin + "#" + sequence)
            {
                return nil
            }
            return kind == "optOut"
        }

        static func nhs(_ entry: AuditEntry) -> NHSNumber? {
            entry[.nhsNumber].flatMap { try? NHSNumber($0) }
        }

        // MARK: Fetches

        mutating func matchFetches() {
            var served: [String: [AuditEntry]] = [:]
            var ended: [String: [AuditEntry]] = [:]
            for signed in logs.values.flatMap(\.values) {
                let entry = signed.entry
                guard let id = entry[.transferID] else { continue }
                if entry.kind == .fetchServed { served[id, default: []].append(entry) }
                if entry.kind == .fetchCompleted || entry.kind == .fetchAbandoned {
                    ended[id, default: []].append(entry)
                }
            }
            var unmatchable: [TrustID: Int] = [:]
            for entry in served.values.joined().sorted(by: Self.byTrustAndSequence) {
                guard let id = entry[.transferID], let peerText = entry[.peer], let requester = try? TrustID(peerText)
                else { continue }
                guard logs[requester] != nil else {
                    unmatchable[requester, default: 0] += 1
                    continue
                }
                if !(ended[id] ?? []).contains(where: { $0.trust == requester }) {
                    add(
                        .unmatchedFetch, entry, peer: requester, rule: nil,
                        "\(entry.trust) #\(entry.sequence) served transfer \(id.prefix(12))… to \(requester), but "
                            + "\(requester)'s log has no fetchCompleted or fetchAbandoned for it")
                }
            }
            for entry in ended.values.joined().sorted(by: Self.byTrustAndSequence) {
                guard let id = entry[.transferID], let peerText = entry[.peer], let holder = try? TrustID(peerText)
                else { continue }
                guard logs[holder] != nil else {
                    unmatchable[holder, default: 0] += 1
                    continue
                }
                if !(served[id] ?? []).contains(where: { $0.trust == holder }) {
                    add(
                        .unmatchedFetch, entry, peer: holder, rule: nil,
                        "\(entry.trust) #\(entry.sequence) logged \(entry.kind) of transfer \(id.prefix(12))… from "
                            + "\(holder), but \(holder)'s log has no fetchServed for it")
                }
            }
            for (trust, count) in unmatchable.sorted(by: { $0.key < $1.key }) {
                notes.append(
                    "\(count) fetch\(count == 1 ? "" : "es") with \(trust) could not be matched: "
                        + "\(trust)'s log was not supplied (or has no pinned key).")
            }
        }

        static func byTrustAndSequence(_ a: AuditEntry, _ b: AuditEntry) -> Bool {
            (a.trust, a.sequence) < (b.trust, b.sequence)
        }

        // MARK: Care relationships

        /// Every authentic entry of every log, by time, then trust, then sequence.
        private var chronological: [AuditEntry] {
            logs.values.flatMap { $0.values.map(\.entry) }.sorted {
                (CareTime.unixSeconds($0.time) ?? .min, $0.trust, $0.sequence)
                    < (CareTime.unixSeconds($1.time) ?? .min, $1.trust, $1.sequence)
            }
        }

        /// Emergency accesses awaiting review, relationships never used, and people recording too
        /// many relationships in a day.
        mutating func checkCareRelationships() {
            var recorded: [String: AuditEntry] = [:]
            var uses: [String: [AuditEntry]] = [:]
            var reviews: [String: [AuditEntry]] = [:]
            var emergencies: Set<String> = []
            var perPersonDay: [PersonDay: [AuditEntry]] = [:]
            for entry in chronological {
                guard let id = entry[.careID] else { continue }
                if Self.careKind(entry) == CareRelationship.Kind.emergency.rawValue { emergencies.insert(id) }
                switch entry.kind {
                case .careAdded:
                    if recorded[id] == nil { recorded[id] = entry }
                    if entry[.actorKind] == "person", let issuer = entry[.actorIssuer],
                        let subject = entry[.actorSubject]
                    {
                        let day = PersonDay(issuer: issuer, subject: subject, day: String(entry.time.prefix(10)))
                        perPersonDay[day, default: []].append(entry)
                    }
                case .fetchRequested, .fetchServed:
                    uses[id, default: []].append(entry)
                case .emergencyReviewed:
                    reviews[id, default: []].append(entry)
                default:
                    break
                }
            }
            for id in emergencies.sorted() {
                guard let last = uses[id]?.last, let used = CareTime.unixSeconds(last.time) else { continue }
                let reviewed = (reviews[id] ?? []).contains { (CareTime.unixSeconds($0.time) ?? .min) >= used }
                guard !reviewed else { continue }
                let places = (uses[id] ?? []).map { "\($0.trust) #\($0.sequence) (\($0.kind))" }
                    .joined(separator: ", ")
                add(
                    .emergencyAwaitingReview, last, peer: last[.peer].flatMap { try? TrustID($0) }, rule: nil,
                    "emergency care relationship \(id.prefix(8))… was used (\(places)) and no emergencyReviewed "
                        + "entry follows its last use: information governance must review it (its justification "
                        + "is in the entries' details)")
            }
            for (id, entry) in recorded.sorted(by: { Self.byTrustAndSequence($0.value, $1.value) })
            where uses[id] == nil {
                let patient = Self.nhs(entry).map { " for NHS number \($0)" } ?? ""
                add(
                    .careNeverUsed, entry, rule: nil,
                    "\(entry.trust) #\(entry.sequence): care relationship \(id.prefix(8))… (\(Self.careKind(entry) ?? "kind not recorded"))"
                        + "\(patient), recorded by \(Self.who(entry)), was never used: no fetch or share under it "
                        + "in the logs given")
            }
            let limit = policy.maxCareRecordsPerPersonPerDay
            for (key, entries) in perPersonDay.sorted(by: {
                ($0.key.day, $0.key.issuer, $0.key.subject) < ($1.key.day, $1.key.issuer, $1.key.subject)
            })
            where entries.count > limit {
                let over = entries[limit]
                let trusts = Set(entries.map(\.trust.code)).sorted().joined(separator: ", ")
                add(
                    .tooManyCareRecords, over, rule: nil,
                    "\(Self.who(over)) (subject \(key.subject) at \(key.issuer)) recorded \(entries.count) care "
                        + "relationships on \(key.day) at \(trusts), more than the network's limit of \(limit) a day "
                        + "(the \(limit + 1)th is \(over.trust) #\(over.sequence))")
            }
        }

        /// A person on a UTC day.
        struct PersonDay: Hashable {
            var issuer: String
            var subject: String
            var day: String
        }

        /// A care relationship's kind, from the entry's `careKind` or the relationship in its details.
        static func careKind(_ entry: AuditEntry) -> String? {
            if let kind = entry[.careKind] { return kind }
            guard let details = entry.details,
                let care = try? JSONDecoder().decode(CareRelationship.self, from: Data(details.utf8))
            else { return nil }
            return care.kind.rawValue
        }

        /// Who acted, for a timeline line or a finding: a person's name, role code and organisation,
        /// or `system: NAME`; an entry that does not say (written before issue 13) gives its actor.
        static func who(_ entry: AuditEntry) -> String {
            switch entry[.actorKind] {
            case "person":
                var role = entry[.actorRole] ?? ""
                if let organisation = entry[.actorOrganisation] {
                    role += role.isEmpty ? organisation : " at \(organisation)"
                }
                return role.isEmpty ? entry.actor : "\(entry.actor) (\(role))"
            case "system":
                return "system: \(entry.actor)"
            default:
                return entry.actor
            }
        }

        // MARK: Report

        private mutating func add(
            _ kind: AuditFinding.Kind, _ entry: AuditEntry, peer: TrustID? = nil, rule: String?, _ message: String
        ) {
            findings.append(
                AuditFinding(
                    kind: kind, trust: entry.trust, sequence: entry.sequence, time: entry.time, peer: peer,
                    studyUID: entry[.studyUID], transferID: entry[.transferID], rule: rule, message: message))
        }

        func report() -> AuditReplayReport {
            var timeline: [(Int64, AuditReplayReport.Event)] = []
            var trusts: [AuditReplayReport.TrustSummary] = []
            for trust in Set(highest.keys).sorted() {
                let entries = (logs[trust] ?? [:]).values.map(\.entry).sorted { $0.sequence < $1.sequence }
                let times = entries.map(\.time).sorted()
                trusts.append(
                    AuditReplayReport.TrustSummary(
                        trust: trust, entries: entries.count, lastSequence: highest[trust] ?? 0,
                        firstTime: times.first, lastTime: times.last, headHash: entries.last?.hash.hex))
                for entry in entries {
                    var subject: [String: String] = [:]
                    for (key, value) in entry.subject {
                        subject[key.rawValue] =
                            key == .nhsNumber ? ((try? NHSNumber(value))?.description ?? "***") : value
                    }
                    timeline.append(
                        (
                            CareTime.unixSeconds(entry.time) ?? Int64.min,
                            AuditReplayReport.Event(
                                trust: trust, sequence: entry.sequence, time: entry.time, kind: entry.kind.rawValue,
                                actor: entry.actor, who: Self.who(entry), subject: subject)
                        ))
                }
            }
            timeline.sort { ($0.0, $0.1.trust, $0.1.sequence) < ($1.0, $1.1.trust, $1.1.sequence) }
            let ordered = findings.sorted {
                ($0.time ?? "", $0.trust, $0.sequence ?? 0, $0.kind.rawValue)
                    < ($1.time ?? "", $1.trust, $1.sequence ?? 0, $1.kind.rawValue)
            }
            return AuditReplayReport(trusts: trusts, timeline: timeline.map(\.1), findings: ordered, notes: notes)
        }
    }
}
