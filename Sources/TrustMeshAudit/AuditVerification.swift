import Foundation
public import TrustMeshCrypto
public import TrustMeshModel

/// Verifies several trusts' exports together: each log's chain and signatures, the agreement of two
/// copies of one trust's log, and every checkpoint that any export holds (or records) against the
/// log it pins.
///
/// A trust that truncated or rewrote its log after peers took checkpoints is exposed only when the
/// peers' exports are verified alongside its own, so an auditor passes all of them at once.
///
/// ```swift
/// let result = AuditVerification(exports: files.map { try AuditExport.parse($0) }, keys: topologyKeys)
/// for (file, outcome) in zip(files, result.files) where outcome.failure != nil { print(outcome.failure!) }
/// ```
public struct AuditVerification: Sendable {
    /// What verification found for one export.
    public struct FileResult: Sendable {
        /// The trust whose log the export holds; `nil` if it holds no entries.
        public var trust: TrustID?
        /// How many entries the export holds.
        public var entryCount: Int
        /// The last entry, when the log verified.
        public var head: AuditEntry?
        /// The checkpoints (from any export) that this log was checked against and agreed with.
        public var checkpointsChecked: [HeldCheckpoint] = []
        /// The tree heads (from any export) that this log was checked against and agreed with.
        public var treeHeadsChecked: [HeldTreeHead] = []
        /// How far the log is pinned: the largest size of a tree head (or sequence of a checkpoint)
        /// that another trust held and the log agreed with. The trust's key holder could drop or
        /// rewrite the entries after it undetected (its own heads do not count: it can sign new
        /// ones). 0 when no other trust's copy pins it.
        public var pinnedTo: UInt64 {
            guard let trust else { return 0 }
            return max(
                treeHeadsChecked.filter { $0.heldBy != trust }.map(\.treeHead.treeSize).max() ?? 0,
                checkpointsChecked.filter { $0.heldBy != trust }.map(\.checkpoint.sequence).max() ?? 0)
        }
        /// The trusts other than the log's own whose copies pin it.
        public var pinnedBy: [TrustID] {
            let holders =
                treeHeadsChecked.map(\.heldBy) + checkpointsChecked.map(\.heldBy)
            return Set(holders.filter { $0 != trust }).sorted()
        }
        /// The first failure, or `nil` if the export verified.
        public var failure: AuditError?
    }

    /// One result per export, in the order given.
    public private(set) var files: [FileResult]
    /// Checkpoints that pinned a trust whose log was not among the exports (or whose key the
    /// topology lacks), so could not be checked.
    public private(set) var unchecked: [HeldCheckpoint] = []
    /// Tree heads of a trust whose log was not among the exports (or did not verify), so could not
    /// be checked.
    public private(set) var uncheckedTreeHeads: [HeldTreeHead] = []

    /// Whether every export verified.
    public var isClean: Bool { files.allSatisfy { $0.failure == nil } }

    /// Verifies exports against the topology's keys.
    /// - Parameters:
    ///   - exports: Parsed exports, typically one per trust.
    ///   - keys: Each trust's pinned signing key.
    public init(exports: [AuditExport], keys: [TrustID: VerifyingKey]) {
        self.init(exports: exports, keys: AuditKeys(pinned: keys))
    }

    /// Verifies exports against pinned keys or a network's statements (``AuditKeys``): with a
    /// network, every entry, tree head and checkpoint is checked against the keys of its trust valid
    /// at its own time.
    /// - Parameters:
    ///   - exports: Parsed exports, typically one per trust.
    ///   - keys: Where each trust's signing keys come from.
    public init(exports: [AuditExport], keys: AuditKeys) {
        var logs: [Int: VerifiedAuditLog] = [:]
        files = exports.map { FileResult(trust: $0.trust, entryCount: $0.entries.count) }
        for (index, export) in exports.enumerated() {
            guard let trust = export.trust else { continue }
            do {
                let log = try AuditChain.verify(export.entries, trust: trust, keys: keys)
                logs[index] = log
                files[index].head = log.head
            } catch {
                files[index].failure = error
            }
        }
        // For each trust, the longest verified copy is the reference; every other copy must be a prefix.
        var reference: [TrustID: Int] = [:]
        for (index, log) in logs.sorted(by: { $0.key < $1.key }) {
            if let current = reference[log.trust], logs[current]!.entries.count >= log.entries.count { continue }
            reference[log.trust] = index
        }
        for (index, log) in logs {
            guard let referenceIndex = reference[log.trust], referenceIndex != index else { continue }
            let longer = logs[referenceIndex]!.entries
            if let fork = zip(log.entries, longer).first(where: { $0.hash != $1.hash }) {
                let error = AuditError.conflictingCopies(trust: log.trust, sequence: fork.0.sequence)
                files[index].failure = files[index].failure ?? error
                files[referenceIndex].failure = files[referenceIndex].failure ?? error
            }
        }
        let recorded = logs.values.map { ($0.trust, $0.entries) }
        for held in Self.checkpoints(exports: exports, recordedIn: recorded) {
            guard let index = reference[held.checkpoint.trust], let log = logs[index] else {
                unchecked.append(held)
                continue
            }
            do {
                try log.check(held.checkpoint, heldBy: held.heldBy)
                files[index].checkpointsChecked.append(held)
            } catch {
                files[index].failure = files[index].failure ?? error
            }
        }
        for held in Self.treeHeads(exports: exports) {
            guard let index = reference[held.treeHead.trust], let log = logs[index] else {
                uncheckedTreeHeads.append(held)
                continue
            }
            do {
                try log.check(held.treeHead, heldBy: held.heldBy)
                files[index].treeHeadsChecked.append(held)
            } catch {
                files[index].failure = files[index].failure ?? error
            }
        }
    }

    /// Every distinct held tree head the exports hold, smallest first (then by trust and holder), so
    /// the earliest disagreement is reported. The same head held by several trusts is kept once per
    /// holder: each holder's copy is what pins the log.
    static func treeHeads(exports: [AuditExport]) -> [HeldTreeHead] {
        var seen: Set<HeldTreeHead> = []
        return exports.flatMap(\.treeHeads).filter { seen.insert($0).inserted }.sorted {
            ($0.treeHead.treeSize, $0.treeHead.trust, $0.heldBy) < ($1.treeHead.treeSize, $1.treeHead.trust, $1.heldBy)
        }
    }

    /// Every distinct checkpoint: those the exports hold, and those recorded in verified logs'
    /// `checkpoint` entries; lowest sequence first, so the earliest disagreement is reported.
    /// - Parameters:
    ///   - exports: The exports, for the checkpoints they hold.
    ///   - recordedIn: Each trust's authentic entries, for the checkpoints they record.
    static func checkpoints(exports: [AuditExport], recordedIn logs: [(TrustID, [AuditEntry])]) -> [HeldCheckpoint] {
        var all = exports.flatMap(\.checkpoints)
        for (trust, entries) in logs {
            all += entries.compactMap { entry in
                recordedCheckpoint(entry).map { HeldCheckpoint(heldBy: trust, checkpoint: $0) }
            }
        }
        var seen: Set<AuditCheckpoint> = []
        return all.filter { seen.insert($0.checkpoint).inserted }.sorted {
            ($0.checkpoint.sequence, $0.checkpoint.trust, $0.heldBy) < (
                $1.checkpoint.sequence, $1.checkpoint.trust, $1.heldBy
            )
        }
    }

    /// The checkpoint a `checkpoint` entry records in its details, if it does.
    static func recordedCheckpoint(_ entry: AuditEntry) -> AuditCheckpoint? {
        guard entry.kind == .checkpoint, let details = entry.details else { return nil }
        // Read as strictly as an export line, so that every verifier sees the same checkpoints.
        return AuditExport.recordedCheckpoint(details)
    }
}
