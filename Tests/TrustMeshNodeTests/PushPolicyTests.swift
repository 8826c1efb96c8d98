import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshPolicy

/// The emergency push's pure decisions: which rule refuses first at the receiver, and what the
/// holder's serve check (and the auditor's replay, which runs the same function) accepts.
@Suite struct PushPolicyTests {
    let holderKey = SigningKey()
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func grant(
        holder: String = "RRK", receiver: String = "RKB", kind: String = PushGrant.emergency,
        reason: String = "Trauma transfer", clinician: String = "Dr Ama Boateng", issuedAgo: TimeInterval = 60,
        lifetime: TimeInterval = 72 * 3600, key: SigningKey? = nil
    ) throws -> PushGrant {
        let issued = now.addingTimeInterval(-issuedAgo)
        return PushGrant.Draft(
            id: "7d0c6a2e-0000-4000-8000-000000000001", holder: try TrustID(holder), receiver: try TrustID(receiver),
            studyUID: "1.2.3", nhsNumber: try NHSNumber("9434765919"), clinician: clinician, reason: reason, kind: kind,
            pushedBy: Person(
                issuer: "https://idp", subject: "s", name: "Dr Lee", roleCode: "R8000",
                organisation: try TrustID(holder)),
            issued: CareTime.format(issued), expires: CareTime.format(issued.addingTimeInterval(lifetime))
        ).signed(by: key ?? holderKey)
    }

    func arrival(_ grant: PushGrant, allowed: [String] = ["RRK"], holds: Bool = true, seen: Bool = false) throws
        -> PushPolicy.Arrival
    {
        PushPolicy.Arrival(
            sender: try TrustID("RRK"), senderKey: holderKey.verifyingKey, receiver: try TrustID("RKB"),
            allowed: Set(try allowed.map { try TrustID($0) }), grant: grant, senderHoldsStudy: holds, seenBefore: seen,
            now: now)
    }

    @Test func theReceiverRefusesByTheFirstRuleThatFails() throws {
        #expect(PushPolicy.accept(try arrival(try grant())) == nil)
        // Not allowed comes first, whatever else is wrong: a trust not allowed learns nothing more.
        #expect(PushPolicy.accept(try arrival(try grant(kind: "routine", reason: ""), allowed: [])) == .pushNotAllowed)
        #expect(PushPolicy.accept(try arrival(try grant(receiver: "RJ1"))) == .pushNotAddressedHere)
        #expect(PushPolicy.accept(try arrival(try grant(key: SigningKey()))) == .pushBadSignature)
        #expect(PushPolicy.accept(try arrival(try grant(kind: "routine"))) == .pushNotEmergency)
        #expect(PushPolicy.accept(try arrival(try grant(reason: "  "))) == .pushNoReason)
        #expect(PushPolicy.accept(try arrival(try grant(clinician: ""))) == .pushNoClinician)
        #expect(PushPolicy.accept(try arrival(try grant(issuedAgo: 73 * 3600))) == .pushExpired)
        #expect(PushPolicy.accept(try arrival(try grant(issuedAgo: -3600))) == .pushExpired)
        #expect(PushPolicy.accept(try arrival(try grant(), holds: false)) == .pushStudyNotHeld)
        #expect(PushPolicy.accept(try arrival(try grant(), seen: true)) == .pushReplayed)
    }

    @Test func theHolderServesOnlyAGrantItSignedForThatStudyPatientAndTrust() throws {
        let rrk = try TrustID("RRK")
        let rkb = try TrustID("RKB")
        let nhs = try NHSNumber("9434765919")
        func serve(
            _ grant: PushGrant, requester: TrustID? = nil, study: String = "1.2.3", patient: NHSNumber? = nil,
            optedOut: Bool = false, keys: [VerifyingKey]? = nil
        ) -> PushRule? {
            PushPolicy.serve(
                grant, holder: rrk, holderKeys: keys ?? [holderKey.verifyingKey], requester: requester ?? rkb,
                studyUID: study, studyNHSNumber: patient ?? nhs, optedOut: optedOut, now: now)
        }
        let good = try grant()
        #expect(serve(good) == nil)
        #expect(serve(good, keys: [SigningKey().verifyingKey]) == .pushNotIssuedHere)
        #expect(serve(try grant(holder: "RJ1")) == .pushNotIssuedHere)
        #expect(serve(good, requester: try TrustID("RJ1")) == .pushDoesNotCover)
        #expect(serve(good, study: "1.2.4") == .pushDoesNotCover)
        #expect(serve(good, patient: try NHSNumber("9876543210")) == .pushDoesNotCover)
        #expect(serve(good, optedOut: true) == .pushOptedOut)
        #expect(serve(try grant(issuedAgo: 80 * 3600)) == .pushExpired)
        // A grant whose fields were changed after signing is not this trust's.
        var widened = good.draft
        widened.receiver = try TrustID("RJ1")
        #expect(
            serve(PushGrant(draft: widened, signature: good.signature), requester: try TrustID("RJ1"))
                == .pushNotIssuedHere)
    }
}
