import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshStore
import TrustMeshTesting

/// The audit log in a node's real SQLite catalogue, in a temporary folder per test.
@Suite(.timeLimit(.minutes(2))) struct AuditTableTests {
    typealias F = Fixtures

    static func draft(_ n: Int, actor: String = "node") -> AuditEntry.Draft {
        AuditEntry.Draft(
            trust: F.rrk, time: F.time(n % 1000), kind: .query, actor: actor, subject: [.nhsNumber: F.patient.digits])
    }

    @Test func theTrailPageFiltersInTheCatalogueNewestFirst() throws {
        let dir = try TemporaryDirectory()
        let audit = try StudyStore(directory: dir.appending("store")).audit
        let other = F.otherPatient.digits
        func entry(_ actor: String, _ subject: [AuditEntry.SubjectKey: String]) -> AuditEntry.Draft {
            AuditEntry.Draft(trust: F.rrk, time: F.time(1), kind: .query, actor: actor, subject: subject)
        }
        try audit.appendBatch(
            [
                entry("Dr Ünal Şahin", [.nhsNumber: F.patient.digits]),  // 1
                entry("node", [.studyUID: F.study, .peer: "rq3"]),  // 2: the patient's study, named alone
                entry("Dr Priya Shah", [.nhsNumber: other, .origin: "RQ3"]),  // 3
                entry("gossip", [.nhsNumber: F.patient.digits, .peer: "RXK"]),  // 4
                entry("node", [:]),  // 5
            ], key: F.rrkKey)
        func sequences(_ filter: AuditTable.TrailFilter, limit: Int = 10) throws -> ([UInt64], Int) {
            let (entries, matching) = try audit.trail(filter, limit: limit)
            return (entries.map(\.sequence), matching)
        }
        #expect(try sequences(.init()) == ([5, 4, 3, 2, 1], 5))
        #expect(try sequences(.init(), limit: 2) == ([5, 4], 5))
        #expect(try sequences(.init(nhsNumber: F.patient.digits)) == ([4, 1], 2))
        #expect(try sequences(.init(nhsNumber: F.patient.digits, studyUIDs: [F.study])) == ([4, 2, 1], 3))
        // Case is ignored beyond ASCII, as Swift folds it.
        #expect(try sequences(.init(actor: "ünal")) == ([1], 1))
        #expect(try sequences(.init(actor: "PRIYA")) == ([3], 1))
        #expect(try sequences(.init(trust: "RQ3")) == ([3, 2], 2))
        #expect(try sequences(.init(nhsNumber: F.patient.digits, studyUIDs: [F.study], trust: "rxk")) == ([4], 1))
        // Text that looks like SQL or a pattern is only text.
        #expect(try sequences(.init(actor: "%")) == ([], 0))
        #expect(try sequences(.init(actor: "' OR 1=1 --")) == ([], 0))
    }

    @Test func appendedEntriesReadBackAsAVerifiableChainAfterReopening() throws {
        let dir = try TemporaryDirectory()
        do {
            let audit = try StudyStore(directory: dir.appending("store")).audit
            #expect(try audit.head() == nil)
            let first = try audit.append(Self.draft(1), key: F.rrkKey)
            #expect(first.sequence == 1)
            #expect(first.previousHash == AuditEntry.zeroHash)
            let batch = try audit.appendBatch((2...5).map { Self.draft($0) }, key: F.rrkKey)
            #expect(batch.map(\.sequence) == [2, 3, 4, 5])
            #expect(batch[0].previousHash == first.hash)
            #expect(try audit.appendBatch([], key: F.rrkKey) == [])
        }
        let audit = try StudyStore(directory: dir.appending("store")).audit
        let all = try audit.all()
        #expect(all.count == 5)
        #expect(try audit.count() == 5)
        #expect(try audit.head() == all.last)
        #expect(try audit.after(sequence: 3).map(\.sequence) == [4, 5])
        #expect(try audit.after(sequence: 1, limit: 2).map(\.sequence) == [2, 3])
        _ = try AuditChain.verify(all, key: F.rrkKey.verifyingKey)
        // The same entries an in-memory chain would have sealed.
        var chain = AuditChain(trust: F.rrk)
        #expect(try (1...5).map { try chain.append(Self.draft($0), key: F.rrkKey) } == all)
    }

    @Test func aBatchWithADraftOfAnotherTrustStoresNothing() throws {
        let dir = try TemporaryDirectory()
        let audit = try StudyStore(directory: dir.appending("store")).audit
        try audit.append(Self.draft(1), key: F.rrkKey)
        let foreign = AuditEntry.Draft(trust: F.rq3, time: F.time(2), kind: .query, actor: "x")
        #expect(throws: StoreError.self) { try audit.appendBatch([Self.draft(2), foreign], key: F.rrkKey) }
        // A subject key the JSON reader would refuse would make the whole log unreadable.
        var unreadable = Self.draft(2)
        unreadable.subject["nhs number"] = F.patient.digits
        #expect(throws: StoreError.self) { try audit.append(unreadable, key: F.rrkKey) }
        #expect(try audit.count() == 1)
        _ = try AuditExport.parse(try AuditExport(entries: try audit.all()).jsonLines())
    }

    /// A CLI command and the running node append to the same file through separate connections.
    @Test func twoConcurrentAppendersOnSeparateConnectionsChainCorrectly() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.appending("store")
        let cli = try StudyStore(directory: path).audit
        let node = try StudyStore(directory: path).audit
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (name, audit) in [("cli", cli), ("node", node)] {
                group.addTask {
                    for n in 0..<200 { try audit.append(Self.draft(n, actor: "\(name) \(n)"), key: F.rrkKey) }
                }
            }
            try await group.waitForAll()
        }
        let all = try cli.all()
        #expect(all.count == 400)
        #expect(all.map(\.sequence) == Array(1...400))
        let log = try AuditChain.verify(all, key: F.rrkKey.verifyingKey)
        #expect(log.head?.sequence == 400)
        // Each appender's entries are all there, in the order it appended them.
        for name in ["cli", "node"] {
            let mine = all.filter { $0.actor.hasPrefix(name + " ") }.map(\.actor)
            #expect(mine == (0..<200).map { "\(name) \($0)" })
        }
    }

    @Test func groupCommitAcknowledgesEachEntryOnceItIsStored() async throws {
        let dir = try TemporaryDirectory()
        let audit = try StudyStore(directory: dir.appending("store")).audit
        let writer = AuditWriter(table: audit, key: F.rrkKey)
        let acknowledged = try await withThrowingTaskGroup(of: AuditEntry.self) { group in
            for n in 0..<100 { group.addTask { try await writer.append(Self.draft(n, actor: "task \(n)")) } }
            var entries: [AuditEntry] = []
            for try await entry in group { entries.append(entry) }
            return entries
        }
        let stored = try audit.all()
        #expect(stored.count == 100)
        #expect(Set(acknowledged) == Set(stored))
        _ = try AuditChain.verify(stored, key: F.rrkKey.verifyingKey)
        // A bad draft fails alone.
        await #expect(throws: StoreError.self) {
            _ = try await writer.append(AuditEntry.Draft(trust: F.rq3, time: F.time(1), kind: .query, actor: "x"))
        }
        #expect(try await writer.append(Self.draft(101)).sequence == 101)
    }

    @Test func onlyTheNewestCheckpointOfEachPeerIsKeptAndAForkIsReported() throws {
        let dir = try TemporaryDirectory()
        let audit = try StudyStore(directory: dir.appending("store")).audit
        let rq3 = F.log(F.rq3, count: 5)
        let rxk = F.log(F.rxk, count: 2)
        func checkpoint(_ entry: AuditEntry, key: SigningKey) -> AuditCheckpoint {
            AuditCheckpoint.signed(
                trust: entry.trust, sequence: entry.sequence, headHash: entry.hash, time: entry.time, key: key)
        }
        #expect(try audit.storeCheckpoint(checkpoint(rq3[2], key: F.rq3Key)) == .stored)
        #expect(try audit.storeCheckpoint(checkpoint(rq3[4], key: F.rq3Key)) == .stored)
        #expect(try audit.storeCheckpoint(checkpoint(rq3[1], key: F.rq3Key)) == .notNewer)
        #expect(try audit.storeCheckpoint(checkpoint(rxk[1], key: F.rxkKey)) == .stored)
        let fork = AuditCheckpoint.signed(
            trust: F.rq3, sequence: 5, headHash: rq3[0].hash, time: F.time(9), key: F.rq3Key)
        #expect(try audit.storeCheckpoint(fork) == .conflicting(held: checkpoint(rq3[4], key: F.rq3Key)))
        let held = try audit.checkpoints()
        #expect(held.map(\.trust) == [F.rq3, F.rxk])
        #expect(held.map(\.sequence) == [5, 2])
        try held[0].verify(with: F.rq3Key.verifyingKey)
    }
}
