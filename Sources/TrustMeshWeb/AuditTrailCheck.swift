import Synchronization
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshStore

/// The audit trail page's verification of the node's whole chain, done once and then only for the
/// entries appended since, a batch at a time: a page view costs the new entries, not the log (which
/// at a million entries took 100 s and 2 GB a view when every entry was read and checked).
///
/// Entries already checked are not read again; the entries a page shows are re-checked on their own
/// (hash and signature) every time, so an entry edited in the catalogue after the chain was checked
/// still shows as not verifying.
final class AuditTrailCheck: Sendable {
    /// Entries read and checked at once.
    static let batch = 5_000
    /// The most problems remembered by sequence (a log altered throughout still counts them all).
    static let rememberedProblems = 10_000

    struct Summary {
        /// Entries checked: the whole log when the check returned.
        var total: Int
        /// How many of them do not verify.
        var failures: Int
        /// The first problem found with each entry that does not verify (up to ``rememberedProblems``).
        var problems: [UInt64: AuditError]
    }

    private struct State {
        var last: AuditEntry?
        var summary = Summary(total: 0, failures: 0, problems: [:])
    }

    private let state = Mutex(State())

    /// Checks the entries appended since the last call, and returns the whole log's summary.
    func update(_ table: AuditTable, trust: TrustID, key: VerifyingKey) throws -> Summary {
        // One page view at a time does the work; others wait for it rather than repeat it.
        try state.withLock { state in
            while true {
                let entries = try table.after(sequence: state.last?.sequence ?? 0, limit: Self.batch)
                guard !entries.isEmpty else { return state.summary }
                for check in AuditChain.check(entries, trust: trust, key: key, after: state.last) {
                    guard let problem = check.problem else { continue }
                    state.summary.failures += 1
                    if state.summary.problems.count < Self.rememberedProblems {
                        state.summary.problems[check.entry.sequence] = problem
                    }
                }
                state.summary.total += entries.count
                state.last = entries.last
            }
        }
    }
}
