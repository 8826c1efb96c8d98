import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshStore
import TrustMeshTesting

/// The index heads gossip digests read, and the evidence of equivocations, in a real catalogue.
@Suite struct ConflictTableTests {
    static let key = try! SigningKey(seed: Array(repeating: 9, count: 32))
    static let rrk = try! TrustID("RRK")
    static let rkb = try! TrustID("RKB")

    static func record(_ origin: TrustID, _ sequence: UInt64, study: String) -> IndexRecord {
        IndexRecord.Draft(
            origin: origin, sequence: sequence, kind: .study, nhsNumber: try! NHSNumber("9434765919"),
            studyUID: study, issuedAt: "2026-03-14T09:26:53Z"
        ).signed(by: key)
    }

    static func json(_ record: IndexRecord) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(record)
    }

    @Test func headsFollowEveryStoredRecordAndAreRebuiltByTheMigration() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.appending("store")
        let records = [
            Self.record(Self.rrk, 1, study: "1.1"), Self.record(Self.rrk, 2, study: "1.2"),
            Self.record(Self.rkb, 1, study: "2.1"),
        ]
        do {
            let store = try StudyStore(directory: path)
            try store.index.append(records)
            let heads = try store.index.heads()
            #expect(heads[Self.rrk]?.sequence == 2 && heads[Self.rrk]?.contentHash == records[1].contentHash)
            #expect(heads[Self.rkb]?.sequence == 1 && heads[Self.rkb]?.contentHash == records[2].contentHash)
            #expect(try store.index.digest() == [Self.rrk: 2, Self.rkb: 1])
        }
        // A catalogue from before the heads: the migration fills them from the records held.
        let sql = "DROP TABLE indexHead; DELETE FROM grdb_migrations WHERE identifier = 'v10: index heads';"
        let result = try await CommandRunner.run("/usr/bin/sqlite3", [path + "/catalogue.sqlite", sql])
        #expect(result.status == 0, "\(result.stderr)")
        let reopened = try StudyStore(directory: path)
        #expect(try reopened.index.heads()[Self.rrk]?.contentHash == records[1].contentHash)
        #expect(try reopened.index.digest() == [Self.rrk: 2, Self.rkb: 1])
    }

    @Test func aPairIsKeptOnceInEitherOrderAndResolvingCanKeepTheOtherRecord() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let held = Self.record(Self.rrk, 1, study: "1.1")
        let other = Self.record(Self.rrk, 1, study: "6.6.6")
        try store.index.append([held])
        let table = store.conflicts
        let first = try #require(
            try table.record(
                kind: .indexRecord, trust: Self.rrk, number: 1, reason: "two #1", first: Self.json(held),
                second: Self.json(other), detectedAt: "2026-03-14T10:00:00Z"))
        #expect(
            try table.record(
                kind: .indexRecord, trust: Self.rrk, number: 1, reason: "again", first: Self.json(other),
                second: Self.json(held), detectedAt: "2026-03-14T10:00:01Z") == nil)
        #expect(try table.unresolved(kind: .indexRecord, trust: Self.rrk).map(\.id) == [first.id])
        #expect(try table.unresolved(kind: .membership).isEmpty)
        #expect(first.records?.held == held && first.records?.other == other)

        guard
            case .resolved(let resolved) = try table.resolve(
                id: first.id, at: "2026-03-14T11:00:00Z", by: "Olu (operator)", note: "RRK says 6.6.6 is its own",
                replacing: other)
        else {
            Issue.record("not resolved")
            return
        }
        #expect(resolved.resolution?.keptSecond == true && resolved.resolution?.by == "Olu (operator)")
        #expect(try store.index.record(origin: Self.rrk, sequence: 1) == other)
        #expect(try store.index.heads()[Self.rrk]?.contentHash == other.contentHash)
        #expect(try table.unresolved().isEmpty)
        #expect(try table.all().count == 1)
        guard case .alreadyResolved = try table.resolve(id: first.id, at: "x", by: "y", note: "z") else {
            Issue.record("resolved twice")
            return
        }
        #expect(try table.resolve(id: 99, at: "x", by: "y", note: "z") == .unknown)
    }

    @Test func atMostSixteenUnresolvedAreKeptPerTrustAndKind() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let held = try Self.json(Self.record(Self.rrk, 1, study: "1.1"))
        var kept = 0
        for index in 0..<20 {
            let other = try Self.json(Self.record(Self.rrk, 1, study: "9.\(index)"))
            if try store.conflicts.record(
                kind: .indexRecord, trust: Self.rrk, number: 1, reason: "r", first: held, second: other,
                detectedAt: "2026-03-14T10:00:00Z") != nil
            {
                kept += 1
            }
        }
        #expect(kept == ConflictTable.unresolvedLimit)
        // Another trust, or another kind, has its own allowance.
        #expect(
            try store.conflicts.record(
                kind: .membership, trust: Self.rrk, number: 4, reason: "two version 4", first: Data("{}".utf8),
                second: Data("[]".utf8), detectedAt: "2026-03-14T10:00:00Z") != nil)
    }
}
