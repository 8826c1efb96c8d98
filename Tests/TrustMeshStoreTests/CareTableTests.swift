import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshTesting

@testable import TrustMeshStore

@Suite struct CareTableTests {
    static let key = try! SigningKey(seed: Array(1...32))
    static let patient = try! NHSNumber("9434765919")
    static let otherPatient = try! NHSNumber("4010232137")
    /// 2026-11-25T09:00:00Z
    static let day0 = Date(timeIntervalSince1970: 1_795_597_200)

    static func care(
        _ n: Int, nhs: NHSNumber = patient, start: Date = day0, expiry: Date? = nil,
        kind: CareRelationship.Kind = .referral
    ) -> CareRelationship {
        CareRelationship.Draft(
            id: String(format: "00000000-0000-4000-8000-%012d", n), trust: try! TrustID("RRK"), nhsNumber: nhs,
            clinician: "Dr \(n)",
            clinicianIdentity: Person(
                issuer: "https://idp.rrk.example", subject: "\(n)", name: "Dr \(n)", roleCode: "R8000",
                organisation: try! TrustID("RRK")),
            kind: kind, reason: "reason \(n)", start: CareTime.format(start), expiry: expiry.map(CareTime.format),
            justification: kind == .emergency ? "justification \(n)" : nil
        ).signed(by: key)
    }

    @Test func addedRelationshipsReadBackNewestFirstAndStillVerify() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let older = Self.care(1, start: Self.day0)
        let newer = Self.care(2, nhs: Self.otherPatient, start: Self.day0.addingTimeInterval(3600), kind: .mdt)
        let sameStartLater = Self.care(3, start: Self.day0.addingTimeInterval(3600))
        #expect(try store.care.add(older))
        #expect(try store.care.add(newer))
        #expect(try store.care.add(sameStartLater))
        let all = try store.care.all()
        #expect(all.map(\.id) == [sameStartLater.id, newer.id, older.id])
        #expect(all[1] == newer)
        for care in all { try care.verify(with: Self.key.verifyingKey) }
        #expect(try store.care.get(id: older.id) == older)
        #expect(try store.care.get(id: "00000000-0000-4000-8000-999999999999") == nil)
    }

    @Test func addingTheSameIdAgainChangesNothing() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let care = Self.care(1)
        #expect(try store.care.add(care))
        #expect(try !store.care.add(care))
        var draft = care.draft
        draft.clinician = "Someone Else"
        draft.clinicianIdentity?.name = "Someone Else"
        #expect(try !store.care.add(draft.signed(by: Self.key)))
        #expect(try store.care.all() == [care])
    }

    @Test func relationshipsSurviveReopeningTheStore() throws {
        let dir = try TemporaryDirectory()
        let care = Self.care(1, expiry: Self.day0.addingTimeInterval(86_400))
        do {
            let store = try StudyStore(directory: dir.appending("store"))
            try store.care.add(care)
        }
        let reopened = try StudyStore(directory: dir.appending("store"))
        #expect(try reopened.care.all() == [care])
    }

    @Test func currentKeepsOnlyThePatientsStartedUnexpiredAndNotTooOldRelationships() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let now = Self.day0.addingTimeInterval(30 * 86_400)
        let open = Self.care(1, start: Self.day0)
        let expiringLater = Self.care(
            2, start: Self.day0.addingTimeInterval(86_400), expiry: now.addingTimeInterval(60))
        let expiringNow = Self.care(3, start: Self.day0, expiry: now)
        let expired = Self.care(4, start: Self.day0, expiry: now.addingTimeInterval(-1))
        let future = Self.care(5, start: now.addingTimeInterval(60))
        let tooOld = Self.care(6, start: now.addingTimeInterval(-366 * 86_400))
        // An emergency counts for 72 hours, whatever expiry it states.
        let emergencyPast = Self.care(
            8, start: now.addingTimeInterval(-73 * 3600), expiry: now.addingTimeInterval(86_400), kind: .emergency)
        let otherPatient = Self.care(7, nhs: Self.otherPatient, start: Self.day0)
        for care in [open, expiringLater, expiringNow, expired, future, tooOld, otherPatient, emergencyPast] {
            try store.care.add(care)
        }
        #expect(
            // Newest start first; of equal starts, the later recorded first.
            try store.care.current(for: Self.patient, now: now).map(\.id)
                == [expiringLater.id, expiringNow.id, open.id])
        #expect(try store.care.current(for: Self.otherPatient, now: now) == [otherPatient])
        // The caps apply whatever the stated expiry: 29 days keeps only the referral that started a
        // day later, and a kind with no cap given is not capped.
        #expect(
            try store.care.current(for: Self.patient, now: now, caps: [.referral: 29 * 86_400]).map(\.id)
                == [emergencyPast.id, expiringLater.id])
    }

    @Test func theNewFieldsAreKeptAndEmergenciesListedByKind() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let emergency = Self.care(1, kind: .emergency)
        let referral = Self.care(2, start: Self.day0.addingTimeInterval(60))
        var operatorDraft = Self.care(3).draft
        operatorDraft.clinicianIdentity = nil
        operatorDraft.clinician = "operating-system user alice (local operator)"
        let byOperator = operatorDraft.signed(by: Self.key)
        for care in [emergency, referral, byOperator] { try store.care.add(care) }
        let back = try #require(try store.care.get(id: emergency.id))
        #expect(back == emergency)
        #expect(back.clinicianIdentity?.subject == "1" && back.reason == "reason 1")
        #expect(back.justification == "justification 1")
        #expect(try store.care.get(id: byOperator.id)?.clinicianIdentity == nil)
        #expect(try store.care.all(kind: .emergency) == [emergency])
        #expect(try store.care.all(kind: .referral).map(\.id) == [referral.id, byOperator.id])
    }

    @Test func aRelationshipThatCouldNotBeReadBackIsNotStored() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        var draft = Self.care(1).draft
        draft.start = "2026-11-25 09:00"
        #expect(throws: DecodingError.self) { try store.care.add(draft.signed(by: Self.key)) }
        #expect(try store.care.all().isEmpty)
    }
}
