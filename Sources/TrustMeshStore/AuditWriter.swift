import Synchronization
package import TrustMeshCrypto
package import TrustMeshModel

/// Group commit for the audit log: concurrent appends wait together for one transaction.
///
/// Each ``append(_:)`` queues its draft; one flusher at a time takes everything queued and writes
/// it with ``AuditTable/appendBatch(_:key:)`` (one transaction, one sync), then resumes every
/// caller with its sealed entry. A caller is resumed only after its entry is committed, so an
/// acknowledged entry is never lost; under load, many events share one sync instead of each paying
/// for its own.
///
/// ```swift
/// let writer = AuditWriter(table: store.audit, key: try node.signingKey())
/// let entry = try await writer.append(draft)
/// ```
package final class AuditWriter: Sendable {
    private struct Pending {
        var draft: AuditEntry.Draft
        var continuation: CheckedContinuation<AuditEntry, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var flushing = false
    }

    private let table: AuditTable
    private let key: SigningKey
    private let state = Mutex(State())

    /// A writer for one log.
    /// - Parameters:
    ///   - table: The node's audit table.
    ///   - key: The node's signing key.
    package init(table: AuditTable, key: SigningKey) {
        self.table = table
        self.key = key
    }

    /// Appends an entry, sharing the transaction with any appends made meanwhile.
    /// - Parameter draft: The event.
    /// - Returns: The entry, durable on return.
    /// - Throws: What ``AuditTable/append(_:key:)`` throws for this draft.
    package func append(_ draft: AuditEntry.Draft) async throws -> AuditEntry {
        try await withCheckedThrowingContinuation { continuation in
            let startFlusher = state.withLock { state in
                state.pending.append(Pending(draft: draft, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if startFlusher {
                // SQLite's write blocks its thread; keep it off the caller's task.
                Task.detached { self.flush() }
            }
        }
    }

    /// Writes batches until nothing is queued.
    private func flush() {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let entries = try table.appendBatch(batch.map(\.draft), key: key)
                for (pending, entry) in zip(batch, entries) { pending.continuation.resume(returning: entry) }
            } catch {
                // One bad draft must not fail its neighbours: retry each alone.
                for pending in batch {
                    do {
                        pending.continuation.resume(returning: try table.append(pending.draft, key: key))
                    } catch {
                        pending.continuation.resume(throwing: error)
                    }
                }
            }
        }
    }
}
