import TrustMeshCrypto
package import TrustMeshStore

/// Which chunks a fetch asks for, when, and in what batches: a pure state machine (no I/O, no
/// clock), as `AssociationStateMachine` is for DICOM. ``FetchEngine`` feeds it events and carries
/// out the actions it returns.
///
/// The rules:
/// - **Claims.** The chunks a study lacks are first claimed (``ChunkClaims``): chunks another fetch
///   is moving right now are not moved twice. When this fetch's own chunks are in, it waits for
///   the other fetches, then claims whatever is still missing (what they failed to bring).
/// - **Sizes.** A batch is up to `batchBytes` of stored (compressed) chunks while there is plenty
///   left. Near the end a batch is a share of what is left per connection (at least 1/16 of
///   `batchBytes`), so the last batches finish together instead of one running alone on one core
///   (the end-game).
/// - **Connections.** At most `connections` batches are in flight; each batch that ends starts
///   the next.
/// - **Retries.** Chunks that fail verification are asked for again once every batch of the round
///   has ended; a chunk that fails more than `chunkRetries` times abandons the fetch. (A batch
///   cut short in transit is retried by the engine itself, on the same connection.)
package struct BatchScheduler: Sendable {
    package typealias Chunk = TransferManifest.Chunk

    package struct Settings: Sendable {
        /// Stored bytes asked for per batch.
        package var batchBytes: Int
        /// Batches in flight at once.
        package var connections: Int
        /// Times a chunk that fails verification is asked for again.
        package var chunkRetries: Int

        package init(batchBytes: Int, connections: Int, chunkRetries: Int) {
            self.batchBytes = max(1, batchBytes)
            self.connections = max(1, connections)
            self.chunkRetries = max(0, chunkRetries)
        }
    }

    /// What the engine does next.
    package enum Action: Sendable, Equatable {
        /// Claim these missing chunks (``ChunkClaims/claim(_:for:)``) and report ``claimed(mine:others:)``.
        case claim([Chunk])
        /// Fetch this batch on a free connection and report ``batchEnded(failed:)``.
        case fetch([Chunk])
        /// These chunks failed verification and are asked for again.
        case retry([Chunk])
        /// Release this fetch's claims: its own chunks are in.
        case release
        /// Wait for the fetches moving these chunks to end, then report ``othersEnded(stillMissing:)``.
        case waitForOthers(Set<String>)
        /// This chunk failed verification on every attempt: abandon the fetch (what arrived is kept).
        case abandon(Chunk)
        /// Every chunk the study lacked is here: commit it.
        case done
    }

    private enum State: Sendable {
        case idle
        case claiming
        /// Moving this fetch's claimed chunks; `others` are being moved by other fetches.
        case moving(others: Set<String>)
        case waiting
        case finished
    }

    private let settings: Settings
    private var state = State.idle
    /// Chunks of the current round not yet asked for, in order.
    private var queue: ArraySlice<Chunk> = []
    private var queuedBytes = 0
    private var inFlight = 0
    /// Chunks of the current round that failed verification.
    private var failed: [Chunk] = []
    private var attempts: [Digest256: Int] = [:]

    package init(settings: Settings) {
        self.settings = settings
    }

    /// The fetch begins with the chunks the study lacks here (claimed even when there are none,
    /// so the engine reports the study's chunks as held).
    package mutating func start(missing: [Chunk]) -> [Action] {
        precondition(isIdle, "start once")
        state = .claiming
        return [.claim(missing)]
    }

    /// The claim's outcome: `mine` to move here; `others`, the fetches moving the rest.
    package mutating func claimed(mine: [Chunk], others: Set<String>) -> [Action] {
        guard case .claiming = state else { preconditionFailure("claimed without a claim") }
        state = .moving(others: others)
        beginRound(mine)
        return dispatch()
    }

    /// A batch ended: `failed` are its chunks that did not verify.
    package mutating func batchEnded(failed batchFailures: [Chunk]) -> [Action] {
        guard case .moving = state, inFlight > 0 else { preconditionFailure("no batch in flight") }
        inFlight -= 1
        failed += batchFailures
        return dispatch()
    }

    /// The other fetches this one waited for have ended; `stillMissing` is what the study still lacks.
    package mutating func othersEnded(stillMissing: [Chunk]) -> [Action] {
        guard case .waiting = state else { preconditionFailure("not waiting") }
        return claimOrFinish(stillMissing)
    }

    // MARK: Internals

    private var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    private mutating func claimOrFinish(_ missing: [Chunk]) -> [Action] {
        if missing.isEmpty {
            state = .finished
            return [.done]
        }
        state = .claiming
        return [.claim(missing)]
    }

    private mutating func beginRound(_ chunks: [Chunk]) {
        queue = chunks[...]
        queuedBytes = chunks.reduce(0) { $0 + $1.stored }
        failed = []
    }

    /// Fills free connections; at the end of a round, retries what failed or moves on.
    private mutating func dispatch() -> [Action] {
        var actions: [Action] = []
        while inFlight < settings.connections, let batch = nextBatch() {
            inFlight += 1
            actions.append(.fetch(batch))
        }
        guard inFlight == 0, queue.isEmpty, case .moving(let others) = state else { return actions }
        if !failed.isEmpty {
            let retried = failed
            for chunk in retried {
                attempts[chunk.hash, default: 0] += 1
                if attempts[chunk.hash]! > settings.chunkRetries {
                    state = .finished
                    return actions + [.abandon(chunk)]
                }
            }
            beginRound(retried)
            return actions + [.retry(retried)] + dispatch()
        }
        if others.isEmpty {
            state = .finished
            return actions + [.release, .done]
        }
        state = .waiting
        return actions + [.release, .waitForOthers(others)]
    }

    /// The next batch of the round: full while plenty is left; near the end a share of what is left
    /// per connection, at least 1/16 of a full batch.
    private mutating func nextBatch() -> [Chunk]? {
        guard !queue.isEmpty else { return nil }
        let limit = max(
            settings.batchBytes / 16, min(settings.batchBytes, queuedBytes / settings.connections))
        var batch: [Chunk] = []
        var bytes = 0
        while let chunk = queue.first, batch.isEmpty || bytes + chunk.stored <= limit {
            batch.append(chunk)
            bytes += chunk.stored
            queue = queue.dropFirst()
        }
        queuedBytes -= bytes
        return batch
    }
}
