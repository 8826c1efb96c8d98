import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

@Suite struct InMemoryIndexLogTests {
    static let key = Fixtures.key(1)

    static func records(_ sequences: ClosedRange<UInt64>) -> [IndexRecord] {
        sequences.map { Fixtures.record(origin: Fixtures.rrk, sequence: $0, studyUID: "1.2.\($0)", key: key) }
    }

    @Test func appendKeepsEachOriginContiguousAndRefusesGaps() async {
        let log = InMemoryIndexLog()
        let all = Self.records(1...5)
        await log.append([all[4], all[1], all[0]])
        #expect(await log.digest() == [Fixtures.rrk: 2])
        #expect(await log.refusedRecords == 1)
        await log.append([all[3], all[2]])
        #expect(await log.digest() == [Fixtures.rrk: 4])
        #expect(await log.records(origin: Fixtures.rrk, after: 1, limit: 2) == [all[1], all[2]])
        #expect(await log.records(origin: Fixtures.rrk, after: 4, limit: 10).isEmpty)
        #expect(await log.records(origin: Fixtures.rq3, after: 0, limit: 10).isEmpty)
    }

    @Test func appendIsIdempotentAndKeepsTheFirstRecordOfASequence() async {
        let log = InMemoryIndexLog()
        let all = Self.records(1...2)
        await log.append(all)
        await log.append(all)
        let rival = Fixtures.record(origin: Fixtures.rrk, sequence: 2, studyUID: "9.9", key: Self.key)
        await log.append([rival])
        #expect(await log.allRecords() == all)
        #expect(await log.conflictingRecords == 1)
    }
}
