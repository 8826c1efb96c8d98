import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

@Suite struct IndexViewTests {
    static let rrkKey = Fixtures.key(1)
    static let rq3Key = Fixtures.key(2)

    @Test func newerRecordForTheSameStudySupersedesTheOlderInAnyOrder() {
        let first = Fixtures.record(origin: Fixtures.rrk, sequence: 1, instances: 300, key: Self.rrkKey)
        let update = Fixtures.record(origin: Fixtures.rrk, sequence: 4, instances: 312, key: Self.rrkKey)
        for order in [[first, update], [update, first], [update, first, update]] {
            let view = IndexView(order)
            #expect(view.studies(for: Fixtures.patient) == [update])
        }
    }

    @Test func withdrawnStudyIsNotListedAndAnOlderRecordCannotRevivieIt() {
        let study = Fixtures.record(origin: Fixtures.rrk, sequence: 1, key: Self.rrkKey)
        let withdrawn = Fixtures.record(origin: Fixtures.rrk, sequence: 2, kind: .withdrawn, key: Self.rrkKey)
        #expect(IndexView([study, withdrawn]).studies(for: Fixtures.patient).isEmpty)
        #expect(IndexView([withdrawn, study]).studies(for: Fixtures.patient).isEmpty)
        // The same study UID at another origin is another copy, still listed.
        let copy = Fixtures.record(origin: Fixtures.rq3, sequence: 1, key: Self.rq3Key)
        #expect(IndexView([study, withdrawn, copy]).studies(for: Fixtures.patient) == [copy])
    }

    @Test func optOutRecordsAreKeptPerPatientAndHideNothingHere() {
        let atRRK = Fixtures.record(origin: Fixtures.rrk, sequence: 1, key: Self.rrkKey)
        let atRQ3 = Fixtures.record(origin: Fixtures.rq3, sequence: 1, studyUID: "1.2.3.9", key: Self.rq3Key)
        let otherPatient = Fixtures.record(
            origin: Fixtures.rrk, sequence: 2, nhs: Fixtures.otherPatient, studyUID: "1.2.3.7", key: Self.rrkKey)
        let optOut = Fixtures.record(origin: Fixtures.rq3, sequence: 2, kind: .optOut, key: Self.rq3Key)
        let later = Fixtures.record(origin: Fixtures.rrk, sequence: 3, studyUID: "1.2.3.8", key: Self.rrkKey)

        // Whether an opt-out counts is OptOutPolicy's decision (TrustMeshPolicy), made by the node.
        let view = IndexView([atRRK, atRQ3, otherPatient, optOut, later, optOut])
        #expect(view.optOutRecords(for: Fixtures.patient) == [optOut])
        #expect(view.studies(for: Fixtures.patient).count == 3)
        #expect(view.optOutRecords(for: Fixtures.otherPatient).isEmpty)
    }

    @Test func aRecordOfAKindThisVersionDoesNotKnowIsKeptButChangesNothing() throws {
        let study = Fixtures.record(origin: Fixtures.rrk, sequence: 1, key: Self.rrkKey)
        let future = Fixtures.record(
            origin: Fixtures.rrk, sequence: 2, kind: IndexRecord.Kind(rawValue: "retentionNotice"), key: Self.rrkKey)
        // It verifies and round-trips through JSON with its kind intact, so a relay passes it on.
        try future.verify(with: Self.rrkKey.verifyingKey)
        let decoded = try JSONDecoder().decode(IndexRecord.self, from: try JSONEncoder().encode(future))
        #expect(decoded.kind.rawValue == "retentionNotice")
        try decoded.verify(with: Self.rrkKey.verifyingKey)
        // It neither hides nor supersedes the study.
        #expect(IndexView([study, future]).studies(for: Fixtures.patient) == [study])
        #expect(IndexView([future, study]).studies(for: Fixtures.patient) == [study])
    }

    @Test func correctionMovesAStudyToTheRightPatient() {
        let wrong = Fixtures.record(origin: Fixtures.rrk, sequence: 1, key: Self.rrkKey)
        let corrected = Fixtures.record(origin: Fixtures.rrk, sequence: 2, nhs: Fixtures.otherPatient, key: Self.rrkKey)
        let view = IndexView([wrong, corrected])
        #expect(view.studies(for: Fixtures.patient).isEmpty)
        #expect(view.studies(for: Fixtures.otherPatient) == [corrected])
    }

    // The same rules, after gossip, at every node.

    @Test func anOptOutReachesEveryNodeAfterConvergence() async throws {
        let network = try GossipSimulation(nodeCount: 20, seed: 21)
        let patient = Fixtures.patient
        try await network.publish(at: network.ids[0]) { $0.nhsNumber = patient }
        try await network.publish(at: network.ids[1]) { $0.nhsNumber = patient }
        let unrelated = try await network.publish(at: network.ids[2]) { $0.nhsNumber = Fixtures.otherPatient }
        _ = try #require(try await network.runUntilConverged(maxRounds: 30))
        for node in network.nodes {
            #expect(try await node.indexView().studies(for: patient).count == 2)
        }

        let optOut = try await network.publish(at: network.ids[3]) { draft in
            draft.kind = .optOut
            draft.nhsNumber = patient
            draft.studyUID = nil
        }
        _ = try #require(try await network.runUntilConverged(maxRounds: 30))
        for node in network.nodes {
            let view = try await node.indexView()
            #expect(view.optOutRecords(for: patient) == [optOut])
            #expect(view.studies(for: patient).count == 2)
            #expect(view.studies.contains(unrelated))
        }
    }

    @Test func withdrawnAndUpdatedStudiesAreReflectedAtEveryNode() async throws {
        let network = try GossipSimulation(nodeCount: 20, seed: 22)
        let origin = network.ids[4]
        let deleted = try await network.publish(at: origin) { $0.studyUID = "2.25.100" }
        try await network.publish(at: origin) { $0.studyUID = "2.25.200" }
        _ = try #require(try await network.runUntilConverged(maxRounds: 30))

        try await network.publish(at: origin) { draft in
            draft.kind = .withdrawn
            draft.studyUID = "2.25.100"
            draft.nhsNumber = deleted.nhsNumber
        }
        let update = try await network.publish(at: origin) { draft in
            draft.studyUID = "2.25.200"
            draft.instanceCount = 312
        }
        _ = try #require(try await network.runUntilConverged(maxRounds: 30))

        for node in network.nodes {
            #expect(try await node.indexView().studies == [update])
        }
    }
}
