import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshPolicy

/// A requester (RRK) asking a holder for a study of `patient`, with every rule holding unless a
/// test changes one fact.
struct Scenario {
    static let requesterKey = try! SigningKey(seed: Array(1...32))
    static let otherTrustKey = try! SigningKey(seed: Array(repeating: 0x42, count: 32))
    static let requester = try! TrustID("RRK")
    static let otherTrust = try! TrustID("RQ3")
    static let patient = try! NHSNumber("9434765919")
    static let otherPatient = try! NHSNumber("4010232137")
    /// 2026-11-25T09:00:00Z
    static let start = Date(timeIntervalSince1970: 1_795_597_200)
    /// A week into care.
    static let now = start.addingTimeInterval(7 * 86_400)

    var draft = CareRelationship.Draft(
        id: "3f2b8c1e-5d4a-4e6b-9c7d-1a2b3c4d5e6f", trust: Scenario.requester, nhsNumber: Scenario.patient,
        clinician: "Dr Aisha Patel", kind: .admission, start: CareTime.format(Scenario.start),
        expiry: "2026-12-31T23:59:59Z")
    var signer = Scenario.requesterKey
    var presentsCare = true
    var requester = Scenario.requester
    var requesterKey: VerifyingKey? = Scenario.requesterKey.verifyingKey
    var studyNHSNumber: NHSNumber? = Scenario.patient
    var optedOut = false
    var now = Scenario.now

    var care: CareRelationship { draft.signed(by: signer) }

    var request: SharingRequest {
        SharingRequest(
            requester: requester, requesterKey: requesterKey, care: presentsCare ? care : nil,
            studyNHSNumber: studyNHSNumber, optedOut: optedOut, now: now)
    }

    func decision(_ settings: PolicySettings = .init()) -> SharingDecision {
        SharingPolicy.decide(request, settings: settings)
    }
}

@Suite struct SharingPolicyTests {
    @Test func aCurrentCareRelationshipSignedByTheRequesterForThePatientShares() {
        #expect(Scenario().decision() == .share)
        var open = Scenario()
        open.draft.expiry = nil
        #expect(open.decision() == .share)
    }

    // MARK: One test per rule: only that fact is wrong, and only that rule fires.

    @Test func aTrustWithNoPinnedKeyIsAnUnknownPeer() {
        var s = Scenario()
        s.requesterKey = nil
        #expect(s.decision() == .refuse(.unknownPeer))
    }

    @Test func aStudyNotHeldIsAnUnknownStudy() {
        var s = Scenario()
        s.studyNHSNumber = nil
        #expect(s.decision() == .refuse(.unknownStudy))
    }

    @Test func anOptedOutPatientIsNotShared() {
        var s = Scenario()
        s.optedOut = true
        #expect(s.decision() == .refuse(.optedOut))
    }

    @Test func aRequestWithoutACareRelationshipIsRefused() {
        var s = Scenario()
        s.presentsCare = false
        #expect(s.decision() == .refuse(.noCareRelationship))
    }

    @Test func aCareRelationshipNamingAnotherTrustIsRefused() throws {
        // Another trust's genuine relationship, presented by RRK.
        var s = Scenario()
        s.draft.trust = Scenario.otherTrust
        s.signer = Scenario.otherTrustKey
        #expect(s.decision() == .refuse(.careSignedByAnotherTrust))
    }

    @Test func aCareRelationshipInTheRequestersNameSignedByAnotherKeyIsRefused() {
        var s = Scenario()
        s.signer = Scenario.otherTrustKey
        #expect(s.decision() == .refuse(.careSignedByAnotherTrust))
    }

    @Test func aCareRelationshipAlteredAfterSigningIsRefused() {
        var s = Scenario()
        let genuine = s.care
        var draft = genuine.draft
        draft.expiry = "2036-12-31T23:59:59Z"
        s.presentsCare = false
        var request = s.request
        request.care = CareRelationship(draft: draft, signature: genuine.signature)
        #expect(SharingPolicy.decide(request) == .refuse(.careSignedByAnotherTrust))
    }

    @Test func aCareRelationshipForAnotherPatientIsRefused() {
        var s = Scenario()
        s.draft.nhsNumber = Scenario.otherPatient
        #expect(s.decision() == .refuse(.careForAnotherPatient))
    }

    @Test func aCareRelationshipStartingInTheFutureIsRefused() {
        var s = Scenario()
        s.draft.start = CareTime.format(s.now.addingTimeInterval(3600))
        #expect(s.decision() == .refuse(.careNotStarted))
    }

    @Test func anExpiredCareRelationshipIsRefused() {
        var s = Scenario()
        s.now = CareTime.parse("2027-01-01T00:00:00Z")!
        #expect(s.decision() == .refuse(.careExpired))
    }

    @Test func aCareRelationshipWithNoExpiryOlderThanAYearIsRefused() {
        var s = Scenario()
        s.draft.expiry = nil
        s.now = Scenario.start.addingTimeInterval(366 * 86_400)
        #expect(s.decision() == .refuse(.careTooOld))
        // A stated expiry, however far ahead, is not subject to the maximum age.
        s.draft.expiry = "2030-01-01T00:00:00Z"
        #expect(s.decision() == .share)
    }

    @Test func everyRuleHasATestThatFiresItAlone() {
        // Guards the list above: a new rule needs a test here and a place in the documented order.
        #expect(
            PolicyRule.allCases == [
                .unknownPeer, .unknownStudy, .optedOut, .noCareRelationship, .careSignedByAnotherTrust,
                .careForAnotherPatient, .careNotStarted, .careExpired, .careTooOld,
            ])
    }

    // MARK: Order

    /// Breaks every rule at once, then mends them one at a time in the documented order: each time
    /// the next rule in the order is the one reported.
    @Test func whenSeveralRulesFailTheFirstInTheDocumentedOrderIsReported() {
        var s = Scenario()
        s.requesterKey = nil
        s.studyNHSNumber = nil
        s.optedOut = true
        s.presentsCare = false
        s.signer = Scenario.otherTrustKey
        s.draft.nhsNumber = Scenario.otherPatient
        s.draft.start = CareTime.format(Scenario.now.addingTimeInterval(86_400))
        s.draft.expiry = CareTime.format(Scenario.now.addingTimeInterval(-86_400))
        var reported: [PolicyRule] = []
        let mends: [(inout Scenario) -> Void] = [
            { $0.requesterKey = Scenario.requesterKey.verifyingKey },
            { $0.studyNHSNumber = Scenario.patient },
            { $0.optedOut = false },
            { $0.presentsCare = true },
            { $0.signer = Scenario.requesterKey },
            { $0.draft.nhsNumber = Scenario.patient },
            { $0.draft.start = CareTime.format(Scenario.start) },
            {
                // Mending the expiry by removing it leaves the relationship too old for one rule more.
                $0.draft.expiry = nil
                $0.now = Scenario.start.addingTimeInterval(400 * 86_400)
            },
            { $0.now = Scenario.now },
        ]
        for mend in mends {
            if case .refuse(let rule) = s.decision() { reported.append(rule) }
            mend(&s)
        }
        #expect(reported == PolicyRule.allCases)
        #expect(s.decision() == .share)
    }

    @Test func anUnknownPeerLearnsNothingAboutTheStudyOrPatient() {
        var s = Scenario()
        s.requesterKey = nil
        s.optedOut = true
        s.studyNHSNumber = nil
        #expect(s.decision() == .refuse(.unknownPeer))
    }

    // MARK: Boundaries

    @Test func anExpiryExactlyNowStillCountsAndAnyLaterDoesNot() {
        var s = Scenario()
        s.now = CareTime.parse(s.draft.expiry!)!
        #expect(s.decision() == .share)
        s.now = s.now.addingTimeInterval(0.001)
        #expect(s.decision() == .refuse(.careExpired))
        s.now = s.now.addingTimeInterval(1)
        #expect(s.decision() == .refuse(.careExpired))
    }

    @Test func aStartWithinTheClockSkewCountsAsStarted() {
        var s = Scenario()
        s.draft.start = CareTime.format(s.now.addingTimeInterval(300))
        #expect(s.decision() == .share)
        s.draft.start = CareTime.format(s.now.addingTimeInterval(301))
        #expect(s.decision() == .refuse(.careNotStarted))
        s.draft.start = CareTime.format(s.now.addingTimeInterval(10))
        #expect(s.decision(PolicySettings(clockSkew: .zero)) == .refuse(.careNotStarted))
    }

    @Test func theMaximumAgeWithoutExpiryIsInclusive() {
        var s = Scenario()
        s.draft.expiry = nil
        s.now = Scenario.start.addingTimeInterval(365 * 86_400)
        #expect(s.decision() == .share)
        s.now = s.now.addingTimeInterval(1)
        #expect(s.decision() == .refuse(.careTooOld))
        let month = PolicySettings(maximumAgeWithoutExpiry: .seconds(30 * 86_400))
        s.now = Scenario.start.addingTimeInterval(31 * 86_400)
        #expect(s.decision(month) == .refuse(.careTooOld))
        #expect(s.decision(month) == s.decision(month))
    }

    @Test func unreadableTimesFailClosed() {
        var s = Scenario()
        s.draft.start = "25/11/2026"
        #expect(s.decision() == .refuse(.careNotStarted))
        s = Scenario()
        s.draft.expiry = "next year"
        #expect(s.decision() == .refuse(.careExpired))
    }

    // MARK: isCurrent

    @Test func isCurrentAppliesOnlyTheTimeRules() {
        let s = Scenario()
        #expect(SharingPolicy.isCurrent(s.care, now: Scenario.now))
        #expect(!SharingPolicy.isCurrent(s.care, now: Scenario.start.addingTimeInterval(-301)))
        #expect(SharingPolicy.isCurrent(s.care, now: Scenario.start.addingTimeInterval(-300)))
        #expect(!SharingPolicy.isCurrent(s.care, now: CareTime.parse("2027-01-01T00:00:00Z")!))
        var forged = s
        forged.signer = Scenario.otherTrustKey
        #expect(SharingPolicy.isCurrent(forged.care, now: Scenario.now))
        var open = s
        open.draft.expiry = nil
        #expect(!SharingPolicy.isCurrent(open.care, now: Scenario.start.addingTimeInterval(366 * 86_400)))
    }

    // MARK: Explanations

    @Test func everyRuleExplainsItselfInPlainEnglishWithoutPatientData() {
        let s = Scenario()
        for rule in PolicyRule.allCases {
            let text = rule.explanation(for: s.care)
            #expect(!text.isEmpty)
            #expect(!text.contains(Scenario.patient.digits))
            #expect(!text.contains("Patel"))
            #expect(text == text.lowercased() || text.contains("UTC"))
        }
        #expect(PolicyRule.optedOut.explanation == "the patient has opted out of sharing imaging")
        #expect(PolicyRule.unknownPeer.explanation == "the requesting trust is not in this network")
        #expect(
            PolicyRule.careExpired.explanation(for: s.care)
                == "the care relationship has expired (on 2026-12-31 at 23:59:59 UTC)")
        #expect(PolicyRule.careExpired.explanation == "the care relationship has expired")
        #expect(
            PolicyRule.careTooOld.explanation
                == "the care relationship is older than the maximum of 365 days with no expiry")
        #expect(
            PolicyRule.careTooOld.explanation(
                for: nil, settings: PolicySettings(maximumAgeWithoutExpiry: .seconds(90 * 86_400)))
                == "the care relationship is older than the maximum of 90 days with no expiry")
    }

    @Test func ruleRawValuesAreStable() throws {
        // They travel in refusals and audit logs: renaming one breaks old logs.
        #expect(
            PolicyRule.allCases.map(\.rawValue) == [
                "unknownPeer", "unknownStudy", "optedOut", "noCareRelationship", "careSignedByAnotherTrust",
                "careForAnotherPatient", "careNotStarted", "careExpired", "careTooOld",
            ])
        let json = try JSONEncoder().encode(PolicyRule.careTooOld)
        #expect(String(decoding: json, as: UTF8.self) == "\"careTooOld\"")
    }
}
