import Synchronization
import Testing
import TrustMeshCrypto

@testable import TrustMeshFetch
@testable import TrustMeshStore

/// The bookkeeping that keeps fetches running at once from moving a chunk twice.
///
/// The waiting tests run each waiter on a ``ManualTaskExecutor``: when `runUntilIdle()` returns,
/// the waiter has either returned or is parked inside `ChunkClaims.wait`, so "it has not woken
/// yet" is checked at a point that is ordered, not one the scheduler happens to reach first.
@Suite(.timeLimit(.minutes(1))) struct ChunkClaimsTests {
    func chunk(_ byte: UInt8) throws -> TransferManifest.Chunk {
        TransferManifest.Chunk(hash: try Digest256(rawBytes: [UInt8](repeating: byte, count: 32)), size: 10, stored: 5)
    }

    /// Starts `claims.wait(for: fetches)` in a task that runs only on `executor`; the flag is set
    /// when the wait returns.
    func startWaiting(_ claims: ChunkClaims, for fetches: Set<String>, on executor: ManualTaskExecutor) -> Flag {
        let returned = Flag()
        Task(executorPreference: executor) {
            await claims.wait(for: fetches)
            returned.set()
        }
        return returned
    }

    @Test func aChunkIsClaimedOnceAndTheOthersAreToldWhoHasIt() throws {
        let claims = ChunkClaims()
        let (a, b, c) = (try chunk(1), try chunk(2), try chunk(3))
        let first = claims.claim([a, b], for: "f1")
        #expect(first.mine.map(\.hash) == [a.hash, b.hash] && first.others.isEmpty)
        let second = claims.claim([b, c], for: "f2")
        #expect(second.mine.map(\.hash) == [c.hash] && second.others == ["f1"])
        claims.release("f1")
        let third = claims.claim([a, b], for: "f3")
        #expect(third.mine.map(\.hash) == [a.hash, b.hash] && third.others.isEmpty)
        claims.release("f1")  // again: nothing happens
        #expect(claims.claim([a], for: "f4").others == ["f3"])
    }

    @Test func waitingNeverEndsBeforeTheRelease() throws {
        let claims = ChunkClaims()
        let executor = ManualTaskExecutor()
        _ = claims.claim([try chunk(1)], for: "holder")
        _ = claims.claim([try chunk(2)], for: "other")
        let returned = startWaiting(claims, for: ["holder"], on: executor)
        executor.runUntilIdle()
        #expect(!returned.isSet, "the wait ended while the holder still held its claims")
        claims.release("other")
        executor.runUntilIdle()
        #expect(!returned.isSet, "another fetch's release ended the wait")
        claims.release("holder")
        executor.runUntilIdle()
        #expect(returned.isSet, "the holder's release did not end the wait")
    }

    @Test func waitingForTwoFetchesEndsOnlyOnceBothHaveReleased() throws {
        let claims = ChunkClaims()
        let executor = ManualTaskExecutor()
        _ = claims.claim([try chunk(1)], for: "f1")
        _ = claims.claim([try chunk(2)], for: "f2")
        let returned = startWaiting(claims, for: ["f1", "f2"], on: executor)
        for fetch in ["f2", "f1"] {
            executor.runUntilIdle()
            #expect(!returned.isSet, "the wait ended before \(fetch) released")
            claims.release(fetch)
        }
        executor.runUntilIdle()
        #expect(returned.isSet)
    }

    @Test func waitingEndsAtOnceForFetchesHoldingNothing() throws {
        let claims = ChunkClaims()
        let executor = ManualTaskExecutor()
        _ = claims.claim([try chunk(1)], for: "finished")
        claims.release("finished")
        let returned = startWaiting(claims, for: ["nobody", "finished"], on: executor)
        executor.runUntilIdle()
        #expect(returned.isSet, "the wait did not end though neither fetch holds a claim")
    }
}

/// A task executor that runs nothing until the test says so. `runUntilIdle()` runs every job
/// queued on it, on the caller's thread, including the jobs those jobs queue, until none is left.
/// A task that prefers this executor has then either finished or is suspended waiting for
/// something outside it (a continuation another part resumes): it cannot be "not yet scheduled".
/// Nonisolated async code, such as `ChunkClaims.wait`, runs on the task's preferred executor
/// (SE-0417), and resuming its continuation queues the task here again.
final class ManualTaskExecutor: TaskExecutor {
    private let jobs = Mutex<[UnownedJob]>([])

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
    }

    func runUntilIdle() {
        while let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// A flag set by one task and read by another.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
