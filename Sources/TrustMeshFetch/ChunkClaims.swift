import Synchronization
import TrustMeshCrypto
import TrustMeshStore

/// Chunks being fetched right now, and the fetch moving each: a fetch that needs a chunk another
/// is already moving waits for that fetch instead of moving the chunk again (two clinicians
/// fetching one study at once, or two studies that share their images). A fetch waits only after
/// giving up its own claims, so no two fetches can wait for each other.
final class ChunkClaims: Sendable {
    private struct State {
        var owner: [Digest256: String] = [:]
        var claimed: [String: [Digest256]] = [:]
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let state = Mutex(State())

    /// Claims for fetch `id` each of `chunks` that no other fetch has claimed. Returns those (to
    /// move), and the fetches that hold claims on the rest.
    func claim(_ chunks: [TransferManifest.Chunk], for id: String) -> (
        mine: [TransferManifest.Chunk], others: Set<String>
    ) {
        state.withLock { state in
            var mine: [TransferManifest.Chunk] = []
            var others: Set<String> = []
            for chunk in chunks {
                if let owner = state.owner[chunk.hash] {
                    if owner != id { others.insert(owner) } else { mine.append(chunk) }
                    continue
                }
                state.owner[chunk.hash] = id
                state.claimed[id, default: []].append(chunk.hash)
                mine.append(chunk)
            }
            return (mine, others)
        }
    }

    /// Drops fetch `id`'s claims and wakes the fetches waiting for it.
    func release(_ id: String) {
        let waiters = state.withLock { state in
            for hash in state.claimed.removeValue(forKey: id) ?? [] where state.owner[hash] == id {
                state.owner[hash] = nil
            }
            return state.waiting.removeValue(forKey: id) ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once none of `fetches` holds a claim.
    func wait(for fetches: Set<String>) async {
        for fetch in fetches {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state in
                    guard state.claimed[fetch] != nil else { return true }
                    state.waiting[fetch, default: []].append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        }
    }
}
