import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshPolicy

/// Replays of synthetic logs of three trusts with real keys: RRK holds a study of one patient, RQ3
/// cares for the patient and fetches it, RXK is a bystander.
@Suite struct AuditReplayTests {
    typealias F = Fixtures
    static let transfer = "5f0c2a9e1b7d4c3a8e6f0a1b2c3d4e5f"

    struct Scenario {
        var rrk = F.LogBuilder(F.rrk)
        var rq3 = F.LogBuilder(F.rq3)
        var rxk = F.LogBuilder(F.rxk)

        init() {
            rrk.add(.nodeStarted, at: 0)
            rrk.add(.ingest, at: 1, actor: "operator", [.studyUID: F.study, .nhsNumber: F.patient.digits])
            rrk.add(
                .recordPublished, at: 1,
                [
                    .origin: "RRK", .recordSequence: "1", .recordKind: "study", .studyUID: F.study,
                    .nhsNumber: F.patient.digits,
                ])
            rq3.add(.nodeStarted, at: 0)
            rxk.add(.nodeStarted, at: 0)
        }

        /// Who RQ3's clinician is in its entries: Dr Aisha Patel, signed in at RQ3.
        static let patel = Actor.person(F.patel(at: F.rq3), session: "s-1f2e")

        /// RQ3 records care (unless `recorded` is false), asks RRK, RRK serves (logging
        /// `servedSubject`), RQ3 logs the completion; every entry as the nodes write them, naming the
        /// care relationship and who acted.
        mutating func fetch(
            care: CareRelationship? = F.care(), at minute: Int = 10, transfer: String = AuditReplayTests.transfer,
            servedNHS: NHSNumber = F.patient, details: String?? = nil, completed: Bool = true, recorded: Bool = true
        ) {
            var careSubject: [AuditEntry.SubjectKey: String] = [:]
            if let care { careSubject = [.careID: care.id, .careKind: care.kind.rawValue] }
            if let care, recorded {
                rq3.add(
                    .careAdded, at: minute - 1, actor: care.clinician,
                    careSubject.merging([.nhsNumber: care.nhsNumber.digits]) { $1 }
                        .merging(Self.patel.auditSubject) { $1 },
                    details: F.json(care))
            }
            rq3.add(
                .fetchRequested, at: minute, actor: "Dr Aisha Patel",
                careSubject.merging([.peer: "RRK", .studyUID: F.study, .nhsNumber: F.patient.digits]) { $1 }
                    .merging(Self.patel.auditSubject) { $1 },
                details: care.map(F.json))
            rrk.add(
                .fetchServed, at: minute, actor: "peer RQ3",
                careSubject.merging([
                    .peer: "RQ3", .studyUID: F.study, .nhsNumber: servedNHS.digits, .transferID: transfer,
                    .actorKind: "system",
                ]) { $1 },
                details: details ?? care.map(F.json))
            if completed {
                rq3.add(
                    .fetchCompleted, at: minute + 1, actor: "Dr Aisha Patel",
                    [.peer: "RRK", .studyUID: F.study, .transferID: transfer, .bytes: "157286400", .chunks: "600"]
                        .merging(Self.patel.auditSubject) { $1 })
            }
        }

        /// RQ3's care relationship `care`, recorded by `actor` at `minute` and never used.
        mutating func record(_ care: CareRelationship, at minute: Int, by actor: Actor = Scenario.patel) {
            rq3.add(
                .careAdded, at: minute, actor: actor.displayName,
                [.careID: care.id, .careKind: care.kind.rawValue, .nhsNumber: care.nhsNumber.digits]
                    .merging(actor.auditSubject) { $1 },
                details: F.json(care))
        }

        var exports: [AuditExport] { [rrk.export, rq3.export, rxk.export] }

        func replay(_ exports: [AuditExport]? = nil) -> AuditReplayReport {
            AuditReplay.run(exports: exports ?? self.exports, keys: F.keys)
        }
    }

    @Test func aShareUnderValidCareWithBothSidesLoggedHasNoFindings() throws {
        var scenario = Scenario()
        scenario.fetch()
        let report = scenario.replay()
        #expect(report.findings == [], "\(report.findings.map(\.message))")
        #expect(!report.hasFindings)
        #expect(report.notes == [])
        #expect(report.trusts.map(\.trust) == [F.rq3, F.rrk, F.rxk])
        let total = scenario.exports.map(\.entries.count).reduce(0, +)
        #expect(report.timeline.count == total)
        #expect(report.timeline.map(\.time) == report.timeline.map(\.time).sorted())
        // The timeline never shows a whole NHS number.
        #expect(report.timeline.allSatisfy { $0.subject["nhsNumber"].map { $0 == "*** *** 5919" } ?? true })
        let json = try JSONEncoder().encode(report)
        #expect(!String(decoding: json, as: UTF8.self).contains(F.patient.digits))
        #expect(try JSONDecoder().decode(AuditReplayReport.self, from: json) == report)
    }

    func only(_ report: AuditReplayReport, _ kind: AuditFinding.Kind) -> AuditFinding? {
        #expect(report.findings.count == 1, "\(report.findings.map(\.message))")
        #expect(report.findings.first?.kind == kind)
        return report.findings.first
    }

    @Test func aShareUnderAnExpiredCareRelationshipIsFound() {
        var scenario = Scenario()
        scenario.fetch(care: F.care(expiry: F.time(5)))
        let finding = only(scenario.replay(), .servedWithoutValidCare)
        #expect(finding?.trust == F.rrk)
        #expect(finding?.sequence == 4)
        #expect(finding?.peer == F.rq3)
        #expect(finding?.rule == PolicyRule.careExpired.rawValue)
        #expect(finding?.transferID == Self.transfer)
        #expect(finding?.studyUID == F.study)
        #expect(
            finding?.message
                == "RRK #4 served study \(F.study) to RQ3, but the sharing policy refuses it: "
                + "the care relationship has expired (on 2026-11-25 at 09:05:00 UTC)")
    }

    @Test func everyPolicyRefusalOfAShareIsFoundWithItsRule() {
        let cases: [(CareRelationship?, String??, PolicyRule)] = [
            (F.care(nhs: F.otherPatient), nil, .careForAnotherPatient),
            (F.care(trust: F.rxk), nil, .careSignedByAnotherTrust),
            (F.care(signer: F.malloryKey), nil, .careSignedByAnotherTrust),
            (nil, .some(nil), .noCareRelationship),
            (nil, .some("not a care relationship"), .noCareRelationship),
            (F.care(expiry: nil), nil, .careTooOld),
            (F.care(expiry: "9999-12-31T23:59:59Z"), nil, .careTooOld),
            (F.care(verified: false), nil, .careClinicianUnverified),
        ]
        for (index, (care, details, rule)) in cases.enumerated() {
            var scenario = Scenario()
            if rule == .careTooOld {
                // Served 100 days after the start: older than the 90-day cap for an admission,
                // whatever expiry it states.
                scenario.fetch(care: care, at: 100 * 24 * 60)
            } else {
                scenario.fetch(care: care, details: details)
            }
            let finding = only(scenario.replay(), .servedWithoutValidCare)
            #expect(finding?.rule == rule.rawValue, "case \(index)")
        }
    }

    @Test func theStudysPatientComesFromTheHoldersOwnLogNotTheServedEntry() {
        // The holder logs the share under another patient, with care for that patient: its own ingest
        // entry says whose study it is.
        var scenario = Scenario()
        scenario.fetch(care: F.care(nhs: F.otherPatient), servedNHS: F.otherPatient)
        #expect(only(scenario.replay(), .servedWithoutValidCare)?.rule == PolicyRule.careForAnotherPatient.rawValue)
    }

    @Test func aShareAfterTheHolderLearnedOfAnOptOutIsFound() {
        var scenario = Scenario()
        scenario.rrk.add(
            .recordReceived, at: 5, actor: "RXK",
            [.origin: "RXK", .recordSequence: "3", .recordKind: "optOut", .nhsNumber: F.patient.digits])
        scenario.fetch()
        let finding = only(scenario.replay(), .servedOptedOut)
        #expect(finding?.trust == F.rrk)
        #expect(finding?.rule == PolicyRule.optedOut.rawValue)
        #expect(finding?.message.contains("opted out (recorded at RRK #4, 2026-11-25T09:05:00Z)") == true)
        #expect(finding?.message.contains("does not record") == false)
        #expect(finding?.message.contains(F.patient.digits) == false)
    }

    @Test func aShareAfterAnOptOutAnotherTrustLoggedIsFoundEvenIfTheHolderNeverLoggedIt() {
        var scenario = Scenario()
        scenario.rxk.add(.optOut, at: 5, actor: "operator", [.nhsNumber: F.patient.digits])
        scenario.fetch()
        let finding = only(scenario.replay(), .servedOptedOut)
        #expect(
            finding?.message
                == "RRK #4 served study \(F.study) to RQ3 after the patient (NHS number *** *** 5919) opted out "
                + "(recorded at RXK #2, 2026-11-25T09:05:00Z); RRK's log does not record learning of the opt-out")

        // An opt-out recorded after the share is not held against it.
        var later = Scenario()
        later.fetch()
        later.rxk.add(.optOut, at: 30, actor: "operator", [.nhsNumber: F.patient.digits])
        #expect(later.replay().findings == [])
    }

    @Test func anOptOutRecordALogRefusedIsNotHeldAgainstAShare() {
        // RXK (no imaging, no care) signed an opt-out; RRK kept it, did not apply it, and said so.
        var scenario = Scenario()
        let record: [AuditEntry.SubjectKey: String] = [
            .origin: "RXK", .recordSequence: "3", .recordKind: "optOut", .nhsNumber: F.patient.digits,
        ]
        scenario.rrk.add(.recordReceived, at: 5, actor: "gossip", record)
        scenario.rrk.add(
            .optOutRefused, at: 5, actor: "gossip", record.merging([.rule: "noImagingOrCare"]) { $1 })
        scenario.fetch()
        #expect(scenario.replay().findings == [])
    }

    @Test func aShareAfterTheOptOutWasWithdrawnIsNotFoundAndOneBeforeItIs() {
        var scenario = Scenario()
        scenario.rxk.add(.optOut, at: 3, actor: "operator", [.nhsNumber: F.patient.digits])
        scenario.rrk.add(
            .recordReceived, at: 4, actor: "gossip",
            [.origin: "RXK", .recordSequence: "2", .recordKind: "optOut", .nhsNumber: F.patient.digits])
        scenario.rxk.add(.optOutWithdrawn, at: 6, actor: "operator", [.nhsNumber: F.patient.digits])
        scenario.rrk.add(
            .recordReceived, at: 7, actor: "gossip",
            [.origin: "RXK", .recordSequence: "3", .recordKind: "optOutWithdrawn", .nhsNumber: F.patient.digits])
        scenario.fetch()
        #expect(scenario.replay().findings == [])

        var early = Scenario()
        early.rxk.add(.optOut, at: 3, actor: "operator", [.nhsNumber: F.patient.digits])
        early.fetch(at: 5)
        early.rxk.add(.optOutWithdrawn, at: 6, actor: "operator", [.nhsNumber: F.patient.digits])
        #expect(only(early.replay(), .servedOptedOut) != nil)
    }

    @Test func aTransferOnlyTheHolderLoggedIsAnUnmatchedFetch() {
        var scenario = Scenario()
        scenario.fetch(completed: false)
        let finding = only(scenario.replay(), .unmatchedFetch)
        #expect(finding?.trust == F.rrk)
        #expect(finding?.peer == F.rq3)
        #expect(
            finding?.message
                == "RRK #4 served transfer 5f0c2a9e1b7d… to RQ3, but RQ3's log has no fetchCompleted or "
                + "fetchAbandoned for it")
    }

    @Test func aTransferOnlyTheRequesterLoggedIsAnUnmatchedFetch() {
        var scenario = Scenario()
        scenario.fetch()
        scenario.rq3.add(
            .fetchAbandoned, at: 20, actor: "Dr Aisha Patel",
            [.peer: "RRK", .studyUID: F.study, .transferID: "feedface"])
        let finding = only(scenario.replay(), .unmatchedFetch)
        #expect(finding?.trust == F.rq3)
        #expect(finding?.peer == F.rrk)
        #expect(
            finding?.message
                == "RQ3 #5 logged fetchAbandoned of transfer feedface… from RRK, but RRK's log has no fetchServed for it"
        )
    }

    @Test func fetchesWithATrustWhoseLogIsMissingAreNotedNotFound() {
        var scenario = Scenario()
        scenario.fetch(completed: false)
        let report = scenario.replay([scenario.rrk.export])
        #expect(report.findings == [])
        #expect(
            report.notes == [
                "1 fetch with RQ3 could not be matched: RQ3's log was not supplied (or has no pinned key)."
            ])
    }

    @Test func aDeletedEntryIsASequenceGapAndNothingElse() {
        var scenario = Scenario()
        scenario.fetch()
        var entries = scenario.rrk.entries
        entries.remove(at: 1)
        let finding = only(scenario.replay([AuditExport(entries: entries), scenario.rq3.export]), .sequenceGap)
        #expect(finding?.trust == F.rrk)
        #expect(finding?.sequence == 3)
        #expect(finding?.message == "RRK #3: sequence gap: entry #2 is missing (expected #2, found #3)")
    }

    @Test func aLogTruncatedBelowAPeersCheckpointIsACheckpointMismatch() {
        var scenario = Scenario()
        scenario.fetch()
        scenario.rrk.add(.query, at: 30, actor: "Dr B", [.nhsNumber: F.patient.digits])
        let held = HeldCheckpoint(heldBy: F.rq3, checkpoint: scenario.rrk.checkpoint(at: 31))
        let truncated = AuditExport(entries: Array(scenario.rrk.entries.prefix(4)))
        let report = scenario.replay([truncated, AuditExport(entries: scenario.rq3.entries, checkpoints: [held])])
        let finding = only(report, .checkpointMismatch)
        #expect(finding?.trust == F.rrk)
        #expect(finding?.sequence == 5)
        #expect(finding?.peer == F.rq3)
        #expect(finding?.rule == "truncated")
        #expect(finding?.message.hasPrefix("RRK #5: truncated: the log ends at #4") == true)
    }

    @Test func aLogTruncatedOrRewrittenBelowAPeersTreeHeadIsACheckpointMismatch() throws {
        var scenario = Scenario()
        scenario.fetch()
        scenario.rrk.add(.query, at: 30, actor: "Dr B", [.nhsNumber: F.patient.digits])
        let held = HeldTreeHead(heldBy: F.rq3, treeHead: scenario.rrk.treeHead(at: 31))
        let peer = AuditExport(entries: scenario.rq3.entries, treeHeads: [held])
        // Only the last entry dropped.
        let truncated = AuditExport(entries: Array(scenario.rrk.entries.dropLast()))
        let finding = only(scenario.replay([truncated, peer]), .checkpointMismatch)
        #expect(finding?.trust == F.rrk && finding?.peer == F.rq3 && finding?.rule == "truncated")
        #expect(finding?.sequence == UInt64(scenario.rrk.entries.count))
        // The last entry rewritten and re-signed with RRK's own key: the tree's root differs.
        var chain = AuditChain(trust: F.rrk, head: scenario.rrk.entries.dropLast().last)
        var draft = scenario.rrk.entries.last!.draft
        draft.actor = "Dr Nobody"
        let rewritten = AuditExport(
            entries: Array(scenario.rrk.entries.dropLast()) + [try chain.append(draft, key: scenario.rrk.key)])
        let second = only(scenario.replay([rewritten, peer]), .checkpointMismatch)
        #expect(second?.rule == "rewritten")
        // The genuine log agrees.
        #expect(scenario.replay([scenario.rrk.export, peer]).findings.allSatisfy { $0.kind != .checkpointMismatch })
    }

    @Test func garbageAppendedAfterATruncationDoesNotHideIt() {
        var scenario = Scenario()
        scenario.fetch()
        scenario.rrk.add(.query, at: 30, actor: "Dr B", [.nhsNumber: F.patient.digits])
        scenario.rrk.add(.query, at: 31, actor: "Dr C", [.nhsNumber: F.patient.digits])
        let held = HeldCheckpoint(heldBy: F.rq3, checkpoint: scenario.rrk.checkpoint(at: 32))
        // #5 and #6 replaced by entries signed with a key nobody pins.
        let tail = F.log(F.rrk, count: 6, key: F.malloryKey).suffix(2)
        let report = scenario.replay([
            AuditExport(entries: Array(scenario.rrk.entries.prefix(4)) + tail),
            AuditExport(entries: scenario.rq3.entries, checkpoints: [held]),
        ])
        let mismatch = report.findings.first { $0.kind == .checkpointMismatch }
        #expect(mismatch?.rule == "truncated")
        #expect(mismatch?.message.hasPrefix("RRK #6: truncated: the log ends at #4") == true)
        #expect(report.findings.filter { $0.kind == .chainInvalid }.map(\.sequence) == [5, 6])
    }

    @Test func aRewrittenLogDisagreesWithTheCheckpointAPeerRecordedInItsOwnLog() throws {
        var scenario = Scenario()
        scenario.fetch()
        let pinned = scenario.rrk.checkpoint(at: 12)
        scenario.rq3.add(.checkpoint, at: 12, actor: "RRK", [.peer: "RRK", .sequence: "4"], details: F.json(pinned))
        // The insider, who holds RRK's key, rebuilds the log without the share.
        var chain = AuditChain(trust: F.rrk)
        let rewritten =
            try scenario.rrk.entries.prefix(3).map { try chain.append($0.draft, key: F.rrkKey) } + [
                try chain.append(
                    AuditEntry.Draft(trust: F.rrk, time: F.time(10), kind: .query, actor: "Dr B"), key: F.rrkKey)
            ]
        let report = scenario.replay([AuditExport(entries: rewritten), scenario.rq3.export])
        let kinds = report.findings.map(\.kind)
        #expect(kinds.contains(.checkpointMismatch))
        #expect(kinds.contains(.unmatchedFetch))  // RQ3 completed a transfer RRK no longer admits serving
        let mismatch = report.findings.first { $0.kind == .checkpointMismatch }
        #expect(mismatch?.rule == "rewritten")
        #expect(mismatch?.sequence == 4)
    }

    @Test func anEditedEntryIsInvalidAndLeftOutOfTheTimeline() {
        var scenario = Scenario()
        scenario.fetch()
        var entries = scenario.rrk.entries
        entries[3] = F.edited(entries[3]) { $0.subject[.peer] = "RXK" }
        let report = scenario.replay([AuditExport(entries: entries), scenario.rq3.export])
        let invalid = report.findings.first { $0.kind == .chainInvalid }
        #expect(invalid?.rule == "bad hash")
        #expect(invalid?.sequence == 4)
        #expect(!report.timeline.contains { $0.trust == F.rrk && $0.sequence == 4 })
        // With the holder's share gone, the requester's completion is unaccounted for.
        #expect(report.findings.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.chainInvalid, .unmatchedFetch])
    }

    @Test func twoDifferentCopiesOfAnEntryAreAFork() throws {
        var scenario = Scenario()
        scenario.fetch()
        var chain = AuditChain(trust: F.rrk, head: scenario.rrk.entries[2])
        let other = try chain.append(
            AuditEntry.Draft(trust: F.rrk, time: F.time(10), kind: .query, actor: "Dr B"), key: F.rrkKey)
        let report = scenario.replay(scenario.exports + [AuditExport(entries: [other])])
        let finding = only(report, .chainInvalid)
        #expect(finding?.rule == "conflicting copies")
        #expect(finding?.sequence == 4)
    }

    // MARK: Care relationships and people

    @Test func theReplayAppliesTheNetworkPolicysCaps() {
        // An admission served on day 20: within the default 90 days, beyond a network's 14.
        var scenario = Scenario()
        scenario.fetch(care: F.care(expiry: nil), at: 20 * 24 * 60)
        #expect(scenario.replay().findings == [])
        var fortnight = NetworkPolicy()
        fortnight.setCap(.admission, to: .seconds(14 * 86_400))
        let report = AuditReplay.run(exports: scenario.exports, keys: F.keys, policy: fortnight)
        #expect(only(report, .servedWithoutValidCare)?.rule == PolicyRule.careTooOld.rawValue)
    }

    @Test func theTimelineNamesPeopleAndSystems() {
        var scenario = Scenario()
        scenario.fetch()
        let report = scenario.replay()
        let requested = report.timeline.first { $0.kind == "fetchRequested" }
        #expect(requested?.actor == "Dr Aisha Patel")
        #expect(requested?.who == "Dr Aisha Patel (S8000:G8000:R8000 at RQ3)")
        #expect(requested?.subject["session"] == "s-1f2e")
        #expect(report.timeline.first { $0.kind == "fetchServed" }?.who == "system: peer RQ3")
        // An entry written before issue 13 says nothing of who acted: its actor alone.
        #expect(report.timeline.first { $0.kind == "ingest" }?.who == "operator")
    }

    @Test func anEmergencyUsedWithoutALaterReviewIsAwaitingReview() {
        let emergency = F.care(expiry: nil, kind: .emergency)
        var scenario = Scenario()
        scenario.fetch(care: emergency)
        let finding = only(scenario.replay(), .emergencyAwaitingReview)
        // Reported at its last use: RQ3's completion has no care id, so RRK's share (#4) or RQ3's
        // request (#3), whichever is later (the same minute: trust order, RRK).
        #expect(finding?.trust == F.rrk)
        #expect(finding?.sequence == 4)
        #expect(finding?.message.contains("RQ3 #3 (fetchRequested), RRK #4 (fetchServed)") == true)

        // A review before the use does not count; one at or after it does, at either trust.
        var reviewedEarly = scenario
        reviewedEarly.rq3.add(.emergencyReviewed, at: 5, actor: "Ms Ng", [.careID: emergency.id])
        #expect(reviewedEarly.replay().findings.map(\.kind) == [.emergencyAwaitingReview])
        var reviewed = scenario
        reviewed.rrk.add(.emergencyReviewed, at: 60, actor: "Mr Ide", [.careID: emergency.id, .peer: "RQ3"])
        #expect(reviewed.replay().findings == [])
        // Used again after the review: awaiting review again.
        reviewed.fetch(care: emergency, at: 120, transfer: "a1b2c3d4", recorded: false)
        #expect(only(reviewed.replay(), .emergencyAwaitingReview)?.sequence == 6)
    }

    @Test func anEmergencyRecordedButNeverUsedIsNeverUsedNotAwaitingReview() {
        var scenario = Scenario()
        scenario.record(F.care(id: 7, kind: .emergency), at: 3)
        let finding = only(scenario.replay(), .careNeverUsed)
        #expect(finding?.trust == F.rq3)
        #expect(finding?.sequence == 2)
    }

    @Test func aCareRelationshipNeverUsedIsFound() {
        var scenario = Scenario()
        scenario.fetch()
        scenario.record(F.care(nhs: F.otherPatient, id: 2), at: 30)
        let finding = only(scenario.replay(), .careNeverUsed)
        #expect(finding?.trust == F.rq3)
        #expect(finding?.sequence == 5)
        #expect(
            finding?.message
                == "RQ3 #5: care relationship 00000000… (admission) for NHS number *** *** 2137, recorded by "
                + "Dr Aisha Patel (S8000:G8000:R8000 at RQ3), was never used: no fetch or share under it in the logs given"
        )
        #expect(finding?.message.contains(F.otherPatient.digits) == false)
    }

    @Test func aPersonRecordingMoreThanTheDailyLimitIsFound() {
        var scenario = Scenario()
        // 21 relationships by Dr Patel on 2026-11-25 (the default limit is 20), each then used.
        for n in 1...21 {
            let care = F.care(id: n, start: n)
            scenario.record(care, at: n)
            scenario.rq3.add(
                .fetchRequested, at: n, actor: "Dr Aisha Patel",
                [.careID: care.id, .careKind: "admission", .peer: "RRK", .studyUID: F.study])
        }
        // A second person's 20 the same day, and Dr Patel's next day, are within the limit.
        let other = Actor.person(
            Person(
                issuer: "https://idp.rq3.example/oidc", subject: "910000000002", name: "Dr Ben Ode",
                roleCode: "S8000:G8000:R8000", organisation: F.rq3), session: nil)
        for n in 22...41 {
            let care = F.care(id: n, start: n)
            scenario.record(care, at: n, by: other)
            scenario.rq3.add(.fetchRequested, at: n, actor: "Dr Ben Ode", [.careID: care.id])
        }
        let nextDay = F.care(id: 99, start: 24 * 60 + 1)
        scenario.record(nextDay, at: 24 * 60 + 1)
        scenario.rq3.add(.fetchRequested, at: 24 * 60 + 1, actor: "Dr Aisha Patel", [.careID: nextDay.id])
        let report = scenario.replay()
        let finding = only(report, .tooManyCareRecords)
        #expect(finding?.trust == F.rq3)
        #expect(finding?.time == F.time(21))
        #expect(
            finding?.message.hasPrefix(
                "Dr Aisha Patel (S8000:G8000:R8000 at RQ3) (subject 910000000001 at https://idp.rq3.example/oidc) "
                    + "recorded 21 care relationships on 2026-11-25 at RQ3, more than the network's limit of 20 a day")
                == true)
        // The limit is the network policy's (`audit replay --max-care-per-day` sets it).
        var strict = NetworkPolicy()
        strict.maxCareRecordsPerPersonPerDay = 25
        #expect(AuditReplay.run(exports: scenario.exports, keys: F.keys, policy: strict).findings == [])
        strict.maxCareRecordsPerPersonPerDay = 19
        let both = AuditReplay.run(exports: scenario.exports, keys: F.keys, policy: strict).findings
        #expect(both.map(\.kind) == [.tooManyCareRecords, .tooManyCareRecords])
    }

    @Test func aLogWithNoPinnedKeyIsInvalid() {
        var scenario = Scenario()
        scenario.fetch()
        let report = AuditReplay.run(exports: scenario.exports, keys: [F.rrk: F.rrkKey.verifyingKey])
        #expect(report.findings.filter { $0.kind == .chainInvalid }.map(\.trust) == [F.rq3, F.rxk])
    }
}
