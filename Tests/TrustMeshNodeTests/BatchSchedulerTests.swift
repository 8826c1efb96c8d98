import Testing
import TrustMeshCrypto
import TrustMeshFetch
import TrustMeshStore

/// The fetch's batch scheduling as a pure state machine: events in, actions out, no I/O.
@Suite struct BatchSchedulerTests {
    typealias Chunk = TransferManifest.Chunk
    static let mib = 1 << 20

    /// `count` distinct chunks of `stored` bytes each.
    static func chunks(_ count: Int, stored: Int = mib, seed: UInt8 = 0) -> [Chunk] {
        (0..<count).map { index in
            Chunk(
                hash: BLAKE2b256.hash([seed, UInt8(index & 0xFF), UInt8(index >> 8)]), size: stored * 2, stored: stored)
        }
    }

    static func scheduler(batchBytes: Int = 8 << 20, connections: Int = 4, chunkRetries: Int = 3) -> BatchScheduler {
        BatchScheduler(settings: .init(batchBytes: batchBytes, connections: connections, chunkRetries: chunkRetries))
    }

    /// Drives a scheduler that claimed every chunk as a real engine would, ending batches first in,
    /// first out; `fails` says which chunks of a batch fail verification. Returns every batch asked
    /// for, the most batches in flight at once, and the last action.
    static func drive(
        _ scheduler: inout BatchScheduler, missing: [Chunk], fails: (Chunk) -> Bool = { _ in false }
    ) -> (batches: [[Chunk]], mostInFlight: Int, retried: [Chunk], last: BatchScheduler.Action?) {
        var batches: [[Chunk]] = []
        var inFlight: [[Chunk]] = []
        var mostInFlight = 0
        var retried: [Chunk] = []
        var actions = scheduler.start(missing: missing)[...]
        for _ in 0..<10_000 {
            while let action = actions.popFirst() {
                switch action {
                case .claim(let chunks): actions += scheduler.claimed(mine: chunks, others: [])
                case .fetch(let batch):
                    batches.append(batch)
                    inFlight.append(batch)
                    mostInFlight = max(mostInFlight, inFlight.count)
                case .retry(let chunks): retried += chunks
                case .release: break
                case .waitForOthers: Issue.record("nothing to wait for")
                case .abandon, .done: return (batches, mostInFlight, retried, action)
                }
            }
            guard !inFlight.isEmpty else { return (batches, mostInFlight, retried, nil) }
            let ended = inFlight.removeFirst()
            actions += scheduler.batchEnded(failed: ended.filter(fails))
        }
        Issue.record("the scheduler did not finish")
        return (batches, mostInFlight, retried, nil)
    }

    /// The chunks of every batch the actions ask for, in order.
    static func fetched(_ actions: some Sequence<BatchScheduler.Action>) -> [Chunk] {
        actions.flatMap { action -> [Chunk] in
            if case .fetch(let batch) = action { return batch }
            return []
        }
    }

    @Test func aStudyHeldWholeIsClaimedThenDone() {
        var scheduler = Self.scheduler()
        #expect(scheduler.start(missing: []) == [.claim([])])
        #expect(scheduler.claimed(mine: [], others: []) == [.release, .done])
    }

    @Test func fullBatchesWhilePlentyIsLeftThenAQuarterOfWhatIsLeft() {
        var scheduler = Self.scheduler()
        let chunks = Self.chunks(40)
        #expect(scheduler.start(missing: chunks) == [.claim(chunks)])
        let first = scheduler.claimed(mine: chunks, others: [])
        // 40 MiB on 4 connections, in order: full 8 MiB batches while a quarter of what is left is
        // more than that, then a quarter of what is left (24 MiB: 6; 18 MiB: 4).
        #expect(first == [0..<8, 8..<16, 16..<22, 22..<26].map { .fetch(Array(chunks[$0])) })
        // A batch ending starts one batch: 14 MiB left, so 3 chunks.
        #expect(scheduler.batchEnded(failed: []) == [.fetch(Array(chunks[26..<29]))])
    }

    @Test func everyChunkIsAskedForOnceAndBatchesShrinkTowardTheEnd() {
        var scheduler = Self.scheduler(batchBytes: 8 << 20, connections: 4)
        let chunks = Self.chunks(100)
        let run = Self.drive(&scheduler, missing: chunks)
        #expect(run.last == .done)
        #expect(run.batches.flatMap { $0 }.map(\.hash) == chunks.map(\.hash))
        #expect(run.mostInFlight == 4)
        #expect(run.batches.allSatisfy { $0.count <= 8 })
        #expect(run.batches.prefix(4).allSatisfy { $0.count == 8 })
        // The end-game: the last batches are smaller than full ones, down to 1/16 of a batch.
        #expect(run.batches.suffix(4).allSatisfy { $0.count < 8 })
        #expect(run.batches.last?.count == 1)
    }

    @Test func aSmallStudyGoesInSmallBatchesOverEveryConnection() {
        var scheduler = Self.scheduler(batchBytes: 8 << 20, connections: 4)
        // 4 MiB in all: a quarter each, so the four connections share it.
        let run = Self.drive(&scheduler, missing: Self.chunks(4))
        #expect(run.batches.map(\.count) == [1, 1, 1, 1])
        #expect(run.mostInFlight == 4)
    }

    @Test func failedChunksAreAskedForAgainOnlyOnceTheRoundHasEnded() {
        var scheduler = Self.scheduler(connections: 2)
        let chunks = Self.chunks(16)
        _ = scheduler.start(missing: chunks)
        let first = scheduler.claimed(mine: chunks, others: [])
        #expect(first.count == 2)
        // The first batch ends with two chunks bad: another batch is still in flight, so no retry yet.
        let bad = [chunks[1], chunks[3]]
        #expect(scheduler.batchEnded(failed: bad).allSatisfy { if case .fetch = $0 { true } else { false } })
        var actions = scheduler.batchEnded(failed: [])
        while actions.isEmpty || actions.allSatisfy({ if case .fetch = $0 { true } else { false } }) {
            actions = scheduler.batchEnded(failed: [])
        }
        #expect(actions.first == .retry(bad))
        #expect(Self.fetched(actions.dropFirst()) == bad)
    }

    @Test func aChunkThatNeverVerifiesAbandonsTheFetchAfterItsRetries() {
        var scheduler = Self.scheduler(chunkRetries: 3)
        let chunks = Self.chunks(10)
        let poisoned = chunks[4]
        let run = Self.drive(&scheduler, missing: chunks) { $0.hash == poisoned.hash }
        #expect(run.last == .abandon(poisoned))
        // Asked for once, then again three times.
        #expect(run.batches.flatMap { $0 }.filter { $0.hash == poisoned.hash }.count == 4)
        #expect(run.retried.count == 3)
    }

    @Test func aChunkThatVerifiesOnItsLastRetryIsKept() {
        var scheduler = Self.scheduler(chunkRetries: 2)
        let chunks = Self.chunks(6)
        var failures = 0
        let run = Self.drive(&scheduler, missing: chunks) { chunk in
            guard chunk.hash == chunks[0].hash, failures < 2 else { return false }
            failures += 1
            return true
        }
        #expect(run.last == .done)
        #expect(run.retried.map(\.hash) == [chunks[0].hash, chunks[0].hash])
    }

    @Test func chunksAnotherFetchIsMovingAreWaitedForThenWhatIsStillMissingIsClaimed() {
        var scheduler = Self.scheduler()
        let chunks = Self.chunks(4)
        #expect(scheduler.start(missing: chunks) == [.claim(chunks)])
        // Two chunks are this fetch's; the other two are being moved by fetch "f2".
        let mine = Array(chunks.prefix(2))
        let fetches = scheduler.claimed(mine: mine, others: ["f2"])
        #expect(Self.fetched(fetches) == mine)
        var ended: [BatchScheduler.Action] = []
        for _ in fetches { ended = scheduler.batchEnded(failed: []) }
        // Its own chunks in: it gives up its claims before waiting, so no two fetches wait for each other.
        #expect(ended == [.release, .waitForOthers(["f2"])])
        // f2 ended without bringing one of its chunks: that one is claimed here.
        #expect(scheduler.othersEnded(stillMissing: [chunks[3]]) == [.claim([chunks[3]])])
        #expect(scheduler.claimed(mine: [chunks[3]], others: []) == [.fetch([chunks[3]])])
        #expect(scheduler.batchEnded(failed: []) == [.release, .done])
    }

    @Test func nothingLeftAfterWaitingIsDone() {
        var scheduler = Self.scheduler()
        let chunks = Self.chunks(2)
        _ = scheduler.start(missing: chunks)
        #expect(scheduler.claimed(mine: [], others: ["f2"]) == [.release, .waitForOthers(["f2"])])
        #expect(scheduler.othersEnded(stillMissing: []) == [.done])
    }
}
