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

    /// RRK's clinician, as RRK's identity provider signed her in.
    static let patel = Person(
        issuer: "https://idp.rrk.example/oidc", subject: "910000000001", name: "Dr Aisha Patel",
        roleCode: "S8000:G8000:R8000", organisation: requester)

    var draft = CareRelationship.Draft(
        id: "3f2b8c1e-5d4a-4e6b-9c7d-1a2b3c4d5e6f", trust: Scenario.requester, nhsNumber: Scenario.patient,
        clinician: "Dr Aisha Patel", clinicianIdentity: Scenario.patel, kind: .admission,
        reason: "Admitted with chest pain", start: CareTime.format(Scenario.start), expiry: "2026-12-31T23:59:59Z")
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

    func decision(_ policy: NetworkPolicy = NetworkPolicy()) -> SharingDecision {
        SharingPolicy.decide(request, policy: policy)
    }

    /// The decision, `share` for any share (whatever expiry it applied).
    func outcome(_ policy: NetworkPolicy = NetworkPolicy()) -> Outcome {
        switch decision(policy) {
        case .share: .share
        case .refuse(let rule): .refuse(rule)
        }
    }
}

/// A decision without the share's expiry, for tests about which rule fires.
enum Outcome: Equatable {
    case share
    case refuse(PolicyRule)
}

@Suite struct SharingPolicyTests {
    @Test func aCurrentCareRelationshipSignedByTheRequesterForThePatientShares() {
        #expect(Scenario().outcome() == .share)
        var open = Scenario()
        open.draft.expiry = nil
        #expect(open.outcome() == .share)
    }

    // MARK: One test per rule: only that fact is wrong, and only that rule fires.

    @Test func aTrustWithNoPinnedKeyIsAnUnknownPeer() {
        var s = Scenario()
        s.requesterKey = nil
        #expect(s.outcome() == .refuse(.unknownPeer))
    }

    @Test func aStudyNotHeldIsAnUnknownStudy() {
        var s = Scenario()
        s.studyNHSNumber = nil
        #expect(s.outcome() == .refuse(.unknownStudy))
    }

    @Test func anOptedOutPatientIsNotShared() {
        var s = Scenario()
        s.optedOut = true
        #expect(s.outcome() == .refuse(.optedOut))
    }

    @Test func aRequestWithoutACareRelationshipIsRefused() {
        var s = Scenario()
        s.presentsCare = false
        #expect(s.outcome() == .refuse(.noCareRelationship))
    }

    @Test func aCareRelationshipNamingAnotherTrustIsRefused() throws {
        // Another trust's genuine relationship, presented by RRK.
        var s = Scenario()
        s.draft.trust = Scenario.otherTrust
        s.signer = Scenario.otherTrustKey
        #expect(s.outcome() == .refuse(.careSignedByAnotherTrust))
    }

    @Test func aCareRelationshipInTheRequestersNameSignedByAnotherKeyIsRefused() {
        var s = Scenario()
        s.signer = Scenario.otherTrustKey
        #expect(s.outcome() == .refuse(.careSignedByAnotherTrust))
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
        #expect(s.outcome() == .refuse(.careForAnotherPatient))
    }

    @Test func aCareRelationshipStartingInTheFutureIsRefused() {
        var s = Scenario()
        s.draft.start = CareTime.format(s.now.addingTimeInterval(3600))
        #expect(s.outcome() == .refuse(.careNotStarted))
    }

    @Test func anExpiredCareRelationshipIsRefused() {
        var s = Scenario()
        s.now = CareTime.parse("2027-01-01T00:00:00Z")!
        #expect(s.outcome() == .refuse(.careExpired))
    }

    @Test func aCareRelationshipOlderThanTheCapForItsKindIsRefusedWhateverItsExpiry() {
        var s = Scenario()
        s.draft.expiry = nil
        s.now = Scenario.start.addingTimeInterval(91 * 86_400)
        #expect(s.outcome() == .refuse(.careTooOld))
        // A stated expiry far ahead is cut to the cap: an admission counts for 90 days.
        s.draft.expiry = "9999-12-31T23:59:59Z"
        #expect(s.outcome() == .refuse(.careTooOld))
        s.now = Scenario.start.addingTimeInterval(89 * 86_400)
        #expect(s.outcome() == .share)
    }

    @Test func aCareRelationshipWithNoClinicianIdentityIsRefusedAsUnverified() {
        // What `trustmesh care add --data` records: the local operator, no verified clinician.
        var s = Scenario()
        s.draft.clinicianIdentity = nil
        s.draft.clinician = "operating-system user alice (local operator)"
        #expect(s.outcome() == .refuse(.careClinicianUnverified))
    }

    @Test func aClinicianIdentityWithAnEmptyIssuerSubjectOrNameIsRefusedAsUnverified() {
        let blanks: [(String, (inout Person) -> Void)] = [
            ("issuer", { $0.issuer = "" }), ("subject", { $0.subject = "" }), ("name", { $0.name = "" }),
            ("white-space issuer", { $0.issuer = "  " }), ("white-space subject", { $0.subject = "\n" }),
        ]
        for (label, blank) in blanks {
            var s = Scenario()
            blank(&s.draft.clinicianIdentity!)
            #expect(s.outcome() == .refuse(.careClinicianUnverified), "\(label)")
        }
        // The role code and registration are not needed.
        var s = Scenario()
        s.draft.clinicianIdentity?.roleCode = ""
        s.draft.clinicianIdentity?.registration = nil
        #expect(s.outcome() == .share)
    }

    @Test func aClinicianWhoseRoleIsHeldAtAnotherTrustIsRefusedAsUnverified() {
        // RRK signs a relationship naming a clinician of RQ3: not RRK's clinician.
        var s = Scenario()
        s.draft.clinicianIdentity?.organisation = Scenario.otherTrust
        #expect(s.outcome() == .refuse(.careClinicianUnverified))
    }

    @Test func everyRuleHasATestThatFiresItAlone() {
        // Guards the list above: a new rule needs a test here and a place in the documented order.
        #expect(
            PolicyRule.allCases == [
                .unknownPeer, .unknownStudy, .optedOut, .noCareRelationship, .careSignedByAnotherTrust,
                .careForAnotherPatient, .careClinicianUnverified, .careNotStarted, .careExpired, .careTooOld,
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
        s.draft.clinicianIdentity = nil
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
            { $0.draft.clinicianIdentity = Scenario.patel },
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
        #expect(s.outcome() == .share)
    }

    @Test func anUnknownPeerLearnsNothingAboutTheStudyOrPatient() {
        var s = Scenario()
        s.requesterKey = nil
        s.optedOut = true
        s.studyNHSNumber = nil
        #expect(s.outcome() == .refuse(.unknownPeer))
    }

    // MARK: Boundaries

    @Test func anExpiryExactlyNowStillCountsAndAnyLaterDoesNot() {
        var s = Scenario()
        s.now = CareTime.parse(s.draft.expiry!)!
        #expect(s.outcome() == .share)
        s.now = s.now.addingTimeInterval(0.001)
        #expect(s.outcome() == .refuse(.careExpired))
        s.now = s.now.addingTimeInterval(1)
        #expect(s.outcome() == .refuse(.careExpired))
    }

    @Test func aStartWithinTheClockSkewCountsAsStarted() {
        var s = Scenario()
        s.draft.start = CareTime.format(s.now.addingTimeInterval(300))
        #expect(s.outcome() == .share)
        s.draft.start = CareTime.format(s.now.addingTimeInterval(301))
        #expect(s.outcome() == .refuse(.careNotStarted))
        s.draft.start = CareTime.format(s.now.addingTimeInterval(10))
        #expect(s.decision(NetworkPolicy(clockSkew: .zero)) == .refuse(.careNotStarted))
    }

    @Test func theCapIsInclusive() {
        var s = Scenario()
        s.draft.kind = .referral
        s.draft.expiry = nil
        s.now = Scenario.start.addingTimeInterval(365 * 86_400)
        #expect(s.outcome() == .share)
        s.now = s.now.addingTimeInterval(1)
        #expect(s.outcome() == .refuse(.careTooOld))
        var month = NetworkPolicy()
        month.setCap(.referral, to: .seconds(30 * 86_400))
        s.now = Scenario.start.addingTimeInterval(31 * 86_400)
        #expect(s.decision(month) == .refuse(.careTooOld))
        #expect(s.decision(month) == s.decision(month))
    }

    // MARK: Caps per kind

    @Test func eachKindIsCappedAtItsDefaultWhateverExpiryTheRequesterWrote() throws {
        let caps: [(CareRelationship.Kind, TimeInterval)] = [
            (.referral, 365 * 86_400), (.outpatient, 365 * 86_400), (.mdt, 365 * 86_400), (.admission, 90 * 86_400),
            (.emergency, 72 * 3600),
        ]
        for (kind, cap) in caps {
            for expiry in [nil, "9999-12-31T23:59:59Z"] as [String?] {
                var s = Scenario()
                s.draft.kind = kind
                s.draft.justification = kind == .emergency ? "Unconscious on arrival" : nil
                s.draft.expiry = expiry
                s.now = Scenario.start.addingTimeInterval(cap)
                guard case .share(let applied) = s.decision() else {
                    Issue.record("\(kind) \(expiry ?? "no expiry"): refused at the cap")
                    continue
                }
                #expect(applied.effective == Scenario.start.addingTimeInterval(cap), "\(kind)")
                #expect(applied.isCut, "\(kind) \(expiry ?? "no expiry")")
                s.now = s.now.addingTimeInterval(1)
                #expect(s.outcome() == .refuse(.careTooOld), "\(kind) \(expiry ?? "no expiry")")
            }
        }
    }

    @Test func aFarExpiryIsCutToTheCapAndTheDecisionSaysSo() throws {
        var s = Scenario()
        s.draft.kind = .emergency
        s.draft.justification = "Unconscious on arrival"
        s.draft.expiry = "9999-12-31T23:59:59Z"
        s.now = Scenario.start.addingTimeInterval(60)
        guard case .share(let expiry) = SharingPolicy.decide(s.request) else {
            Issue.record("an emergency a minute old is refused")
            return
        }
        #expect(expiry.stated == CareTime.parse("9999-12-31T23:59:59Z"))
        #expect(expiry.effective == Scenario.start.addingTimeInterval(72 * 3600))
        #expect(expiry.isCut)
        #expect(
            expiry.auditSubject == [
                .expiryStated: "9999-12-31T23:59:59Z", .expiryEffective: "2026-11-28T09:00:00Z",
            ])
    }

    @Test func noExpiryStatedIsCappedAndRecordedAsNone() throws {
        var s = Scenario()
        s.draft.expiry = nil
        guard case .share(let expiry) = s.decision() else {
            Issue.record("refused")
            return
        }
        #expect(expiry.stated == nil)
        #expect(expiry.effective == Scenario.start.addingTimeInterval(90 * 86_400))
        #expect(expiry.auditSubject == [.expiryStated: "none", .expiryEffective: "2027-02-23T09:00:00Z"])
    }

    @Test func anExpiryWithinTheCapIsKeptAndNotCut() throws {
        let s = Scenario()  // an admission to 2026-12-31, 36 days: within 90
        guard case .share(let expiry) = s.decision() else {
            Issue.record("refused")
            return
        }
        #expect(!expiry.isCut)
        #expect(expiry.effective == CareTime.parse("2026-12-31T23:59:59Z"))
        #expect(expiry.auditSubject == [.expiryEffective: "2026-12-31T23:59:59Z"])
    }

    @Test func unreadableTimesFailClosed() {
        var s = Scenario()
        s.draft.start = "25/11/2026"
        #expect(s.outcome() == .refuse(.careNotStarted))
        s = Scenario()
        s.draft.expiry = "next year"
        #expect(s.outcome() == .refuse(.careExpired))
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
        #expect(!SharingPolicy.isCurrent(open.care, now: Scenario.start.addingTimeInterval(91 * 86_400)))
        var unverified = s
        unverified.draft.clinicianIdentity = nil
        #expect(SharingPolicy.isCurrent(unverified.care, now: Scenario.now))
        #expect(!SharingPolicy.isVerified(unverified.care))
        #expect(SharingPolicy.isVerified(s.care))
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
                == "the care relationship is older than the network's maximum for its kind")
        #expect(
            PolicyRule.careTooOld.explanation(for: s.care)
                == "the care relationship is older than the network's maximum of 90 days for an admission relationship")
        var emergency = s
        emergency.draft.kind = .emergency
        #expect(
            PolicyRule.careTooOld.explanation(for: emergency.care)
                == "the care relationship is older than the network's maximum of 72 hours for an emergency relationship"
        )
        var week = NetworkPolicy()
        week.setCap(.admission, to: .seconds(7 * 86_400))
        #expect(
            PolicyRule.careTooOld.explanation(for: s.care, policy: week)
                == "the care relationship is older than the network's maximum of 7 days for an admission relationship")
        #expect(
            PolicyRule.careClinicianUnverified.explanation
                == "the care relationship does not name a clinician of the requesting trust verified by its sign-in")
    }

    @Test func ruleRawValuesAreStable() throws {
        // They travel in refusals and audit logs: renaming one breaks old logs.
        #expect(
            PolicyRule.allCases.map(\.rawValue) == [
                "unknownPeer", "unknownStudy", "optedOut", "noCareRelationship", "careSignedByAnotherTrust",
                "careForAnotherPatient", "careClinicianUnverified", "careNotStarted", "careExpired", "careTooOld",
            ])
        let json = try JSONEncoder().encode(PolicyRule.careTooOld)
        #expect(String(decoding: json, as: UTF8.self) == "\"careTooOld\"")
    }
}
