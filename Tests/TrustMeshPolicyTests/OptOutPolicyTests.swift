import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshPolicy

/// Who may record an opt-out, and which record is in force: `OptOutPolicy` on its own.
@Suite struct OptOutPolicyTests {
    static let rrk = Scenario.requester
    static let rq3 = Scenario.otherTrust
    static let rrkKey = Scenario.requesterKey
    static let rq3Key = Scenario.otherTrustKey
    static let patient = Scenario.patient

    static func study(_ origin: TrustID, _ sequence: UInt64, key: SigningKey, kind: IndexRecord.Kind = .study)
        -> IndexRecord
    {
        IndexRecord.Draft(
            origin: origin, sequence: sequence, kind: kind, nhsNumber: patient, studyUID: "1.2.3.\(origin.code.count)",
            issuedAt: "2026-11-20T09:00:00Z"
        ).signed(by: key)
    }

    static func optOut(
        _ origin: TrustID, _ sequence: UInt64, key: SigningKey, kind: IndexRecord.Kind = .optOut,
        at issuedAt: String, care: CareRelationship? = nil, statement: Bool = true
    ) -> IndexRecord {
        IndexRecord.Draft(
            origin: origin, sequence: sequence, kind: kind, nhsNumber: patient, issuedAt: issuedAt,
            statement: statement
                ? OptOutStatement(recordedBy: "Records office", recorder: nil, expression: "Form OPT-7", care: care)
                : nil
        ).signed(by: key)
    }

    @Test func anOptOutFromATrustWithNoImagingAndNoCareIsRefusedAndChangesNothing() {
        let held = Self.study(Self.rrk, 1, key: Self.rrkKey)
        let forged = Self.optOut(Self.rq3, 1, key: Self.rq3Key, at: "2026-11-25T10:00:00Z")
        let decision = OptOutPolicy.decide([held, forged])
        #expect(!decision.optedOut)
        #expect(decision.deciding == nil)
        #expect(decision.judged.map(\.refusal) == [.noImagingOrCare])
    }

    @Test func theHolderMayRecordOneButOnlyForImagingAnnouncedBeforeIt() {
        let held = Self.study(Self.rrk, 1, key: Self.rrkKey)
        let optOut = Self.optOut(Self.rrk, 2, key: Self.rrkKey, at: "2026-11-25T10:00:00Z")
        #expect(OptOutPolicy.decide([optOut, held]).optedOut)
        // Imaging announced after the record does not make it acceptable, nor a withdrawn study.
        let first = Self.optOut(Self.rrk, 1, key: Self.rrkKey, at: "2026-11-25T10:00:00Z")
        let later = Self.study(Self.rrk, 2, key: Self.rrkKey)
        #expect(OptOutPolicy.decide([first, later]).judged.first?.refusal == .noImagingOrCare)
        let gone = Self.study(Self.rrk, 2, key: Self.rrkKey, kind: .withdrawn)
        let afterGone = Self.optOut(Self.rrk, 3, key: Self.rrkKey, at: "2026-11-25T10:00:00Z")
        #expect(!OptOutPolicy.decide([held, gone, afterGone]).optedOut)
    }

    @Test func aTrustWithACurrentVerifiedCareRelationshipMayRecordOneAndNoOtherCareCounts() {
        var scenario = Scenario()
        let issued = CareTime.format(Scenario.now)
        let cared = Self.optOut(Self.rrk, 1, key: Self.rrkKey, at: issued, care: scenario.care)
        #expect(OptOutPolicy.decide([cared]).optedOut)
        // Expired when the record was issued.
        let late = Self.optOut(Self.rrk, 1, key: Self.rrkKey, at: "2027-06-01T00:00:00Z", care: scenario.care)
        #expect(OptOutPolicy.decide([late]).judged.first?.refusal == .careNotValid)
        // Another trust's relationship, carried by RQ3.
        let borrowed = Self.optOut(Self.rq3, 1, key: Self.rq3Key, at: issued, care: scenario.care)
        #expect(OptOutPolicy.decide([borrowed]).judged.first?.refusal == .careNotValid)
        // Recorded by a local operator: no verified clinician.
        scenario.draft.clinicianIdentity = nil
        scenario.draft.clinician = "operating-system user root (local operator)"
        let unverified = Self.optOut(Self.rrk, 1, key: Self.rrkKey, at: issued, care: scenario.care)
        #expect(OptOutPolicy.decide([unverified]).judged.first?.refusal == .careNotValid)
    }

    @Test func aWithdrawalByTheLatestIssueTimeWinsAndTiesGoToTheGreaterOriginCode() {
        let atRRK = Self.study(Self.rrk, 1, key: Self.rrkKey)
        let atRQ3 = Self.study(Self.rq3, 1, key: Self.rq3Key)
        let optOut = Self.optOut(Self.rrk, 2, key: Self.rrkKey, at: "2026-11-25T10:00:00Z")
        let withdrawal = Self.optOut(
            Self.rq3, 2, key: Self.rq3Key, kind: .optOutWithdrawn, at: "2026-11-26T10:00:00Z")
        // The later withdrawal wins, in whatever order the records arrived.
        for records in [[atRRK, atRQ3, optOut, withdrawal], [withdrawal, optOut, atRQ3, atRRK]] {
            let decision = OptOutPolicy.decide(records)
            #expect(!decision.optedOut)
            #expect(decision.deciding == withdrawal)
        }
        // A later opt-out again wins over the withdrawal.
        let again = Self.optOut(Self.rrk, 3, key: Self.rrkKey, at: "2026-11-27T10:00:00Z")
        #expect(OptOutPolicy.decide([atRRK, atRQ3, optOut, withdrawal, again]).optedOut)
        // The same second: the greater ODS code (RRK > RQ3) decides.
        let rrkOut = Self.optOut(Self.rrk, 2, key: Self.rrkKey, at: "2026-11-25T10:00:00Z")
        let rq3Back = Self.optOut(Self.rq3, 2, key: Self.rq3Key, kind: .optOutWithdrawn, at: "2026-11-25T10:00:00Z")
        #expect(OptOutPolicy.decide([atRRK, atRQ3, rrkOut, rq3Back]).deciding == rrkOut)
        let rrkBack = Self.optOut(Self.rrk, 2, key: Self.rrkKey, kind: .optOutWithdrawn, at: "2026-11-25T10:00:00Z")
        let rq3Out = Self.optOut(Self.rq3, 2, key: Self.rq3Key, at: "2026-11-25T10:00:00Z")
        #expect(!OptOutPolicy.decide([atRRK, atRQ3, rrkBack, rq3Out]).optedOut)
        // A refused withdrawal (no statement) cannot end an opt-out.
        let bare = Self.optOut(
            Self.rq3, 2, key: Self.rq3Key, kind: .optOutWithdrawn, at: "2026-11-28T10:00:00Z", statement: false)
        let decision = OptOutPolicy.decide([atRRK, atRQ3, optOut, bare])
        #expect(decision.optedOut)
        #expect(decision.judged.map(\.refusal) == [.malformedStatement, nil])
    }

    @Test func aVersionOneOptOutStillVerifiesAndCountsForAHolder() throws {
        let held = Self.study(Self.rrk, 1, key: Self.rrkKey)
        let old = Self.optOut(Self.rrk, 2, key: Self.rrkKey, at: "2026-11-25T10:00:00Z", statement: false)
        #expect(old.signedBytes.starts(with: Array("TrustMesh/IndexRecord/v1\0".utf8)))
        try old.verify(with: Self.rrkKey.verifyingKey)
        let decoded = try JSONDecoder().decode(IndexRecord.self, from: try JSONEncoder().encode(old))
        try decoded.verify(with: Self.rrkKey.verifyingKey)
        #expect(OptOutPolicy.decide([held, decoded]).optedOut)
        // A version 2 record round-trips and verifies; any change to its statement breaks it.
        let new = Self.optOut(Self.rrk, 2, key: Self.rrkKey, at: "2026-11-25T10:00:00Z", care: Scenario().care)
        #expect(new.signedBytes.starts(with: Array("TrustMesh/IndexRecord/v2\0".utf8)))
        let back = try JSONDecoder().decode(IndexRecord.self, from: try JSONEncoder().encode(new))
        try back.verify(with: Self.rrkKey.verifyingKey)
        var altered = back.draft
        altered.statement?.expression = "Form OPT-8"
        #expect(throws: CryptoError.self) {
            try IndexRecord(draft: altered, signature: back.signature).verify(with: Self.rrkKey.verifyingKey)
        }
    }
}
