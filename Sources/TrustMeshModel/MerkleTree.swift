public import TrustMeshCrypto

/// The Merkle tree of an audit log, with RFC 9162 (Certificate Transparency 2.0) hashing and
/// proofs, BLAKE2b-256 as the hash.
///
/// Leaves are the log's entries in sequence order (entry `n` is leaf `n − 1`); a leaf's hash is
/// `BLAKE2b-256(0x00 ‖ M)` with `M` the entry's canonical message (what its `hash` and signature
/// cover), an interior node's `BLAKE2b-256(0x01 ‖ left ‖ right)`, and the tree of `n` leaves splits
/// at the largest power of two below `n` (RFC 9162 §2.1.1). The root of the empty tree is
/// `BLAKE2b-256()` of nothing.
///
/// The functions here are pure. The hashes of a tree come from a ``Subtrees`` source: the store
/// keeps every complete, aligned subtree's hash (`AuditTable`), ``InMemory`` holds them for a log
/// read from a file. Every proof needs at most `2·log₂(n)` lookups.
///
/// ```swift
/// var tree = MerkleTree.InMemory()
/// for entry in entries { tree.append(MerkleTree.leafHash(entry.canonicalBytes)) }
/// let proof = try tree.inclusionProof(index: 41, size: tree.size)
/// MerkleTree.verifyInclusion(leaf: tree.leaf(41), index: 41, size: tree.size, proof: proof, root: try tree.root())
/// ```
public enum MerkleTree {
    /// `BLAKE2b-256(0x00 ‖ data)`: the hash of a leaf whose content is `data`.
    public static func leafHash(_ data: [UInt8]) -> Digest256 {
        var hasher = BLAKE2b256()
        hasher.update([0x00])
        hasher.update(data)
        return hasher.finalize()
    }

    /// `BLAKE2b-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
    public static func nodeHash(_ left: Digest256, _ right: Digest256) -> Digest256 {
        var bytes = [UInt8](repeating: 0x01, count: 1 + 2 * Digest256.byteCount)
        bytes.replaceSubrange(1...Digest256.byteCount, with: left.rawBytes)
        bytes.replaceSubrange((1 + Digest256.byteCount)..., with: right.rawBytes)
        return BLAKE2b256.hash(bytes)
    }

    /// The root of the empty tree: `BLAKE2b-256()` of no bytes.
    public static let emptyRoot: Digest256 = BLAKE2b256.hash([UInt8]())

    /// Where the hash of a complete subtree comes from: the subtree of `2^level` leaves starting at
    /// leaf `index · 2^level`.
    public typealias Subtrees = (_ level: Int, _ index: UInt64) throws -> Digest256

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func split(_ n: UInt64) -> UInt64 {
        precondition(n >= 2)
        return UInt64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// The hash of leaves `start..<end` (RFC 9162's `MTH(D[start:end])`), from complete subtrees.
    /// - Parameters:
    ///   - start: The first leaf.
    ///   - end: One past the last leaf; `end == start` gives ``emptyRoot``.
    ///   - subtrees: The source of complete subtrees' hashes.
    public static func hash(start: UInt64, end: UInt64, subtrees: Subtrees) rethrows -> Digest256 {
        let count = end - start
        if count == 0 { return emptyRoot }
        if count & (count - 1) == 0, start % count == 0 {
            return try subtrees(count.trailingZeroBitCount, start / count)
        }
        let k = split(count)
        return nodeHash(
            try hash(start: start, end: start + k, subtrees: subtrees),
            try hash(start: start + k, end: end, subtrees: subtrees))
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1).
    /// - Precondition: `index < size`.
    public static func inclusionProof(index: UInt64, size: UInt64, subtrees: Subtrees) rethrows -> [Digest256] {
        precondition(index < size)
        var proof: [Digest256] = []
        try path(index, start: 0, end: size, subtrees: subtrees, into: &proof)
        return proof
    }

    private static func path(
        _ index: UInt64, start: UInt64, end: UInt64, subtrees: Subtrees, into proof: inout [Digest256]
    ) rethrows {
        let count = end - start
        guard count > 1 else { return }
        let k = split(count)
        if index < k {
            try path(index, start: start, end: start + k, subtrees: subtrees, into: &proof)
            proof.append(try hash(start: start + k, end: end, subtrees: subtrees))
        } else {
            try path(index - k, start: start + k, end: end, subtrees: subtrees, into: &proof)
            proof.append(try hash(start: start, end: start + k, subtrees: subtrees))
        }
    }

    /// The proof that the tree of the first `oldSize` leaves is a prefix of the tree of the first
    /// `newSize` (RFC 9162 §2.1.4.1); empty when `oldSize` is 0 or equals `newSize`.
    /// - Precondition: `oldSize <= newSize`.
    public static func consistencyProof(from oldSize: UInt64, to newSize: UInt64, subtrees: Subtrees) rethrows
        -> [Digest256]
    {
        precondition(oldSize <= newSize)
        guard oldSize > 0, oldSize < newSize else { return [] }
        var proof: [Digest256] = []
        try subproof(oldSize, start: 0, end: newSize, complete: true, subtrees: subtrees, into: &proof)
        return proof
    }

    private static func subproof(
        _ m: UInt64, start: UInt64, end: UInt64, complete: Bool, subtrees: Subtrees, into proof: inout [Digest256]
    ) rethrows {
        let n = end - start
        if m == n {
            if !complete { proof.append(try hash(start: start, end: end, subtrees: subtrees)) }
            return
        }
        let k = split(n)
        if m <= k {
            try subproof(m, start: start, end: start + k, complete: complete, subtrees: subtrees, into: &proof)
            proof.append(try hash(start: start + k, end: end, subtrees: subtrees))
        } else {
            try subproof(m - k, start: start + k, end: end, complete: false, subtrees: subtrees, into: &proof)
            proof.append(try hash(start: start, end: start + k, subtrees: subtrees))
        }
    }

    /// Whether `proof` shows the leaf with hash `leaf` at `index` in the tree of `size` leaves whose
    /// root is `root` (RFC 9162 §2.1.3.2).
    public static func verifyInclusion(
        leaf: Digest256, index: UInt64, size: UInt64, proof: [Digest256], root: Digest256
    ) -> Bool {
        guard index < size else { return false }
        var fn = index
        var sn = size - 1
        var r = leaf
        for p in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Whether `proof` shows that the tree of `oldSize` leaves with root `oldRoot` is a prefix of the
    /// tree of `newSize` leaves with root `newRoot` (RFC 9162 §2.1.4.2). Trees of equal size are
    /// consistent only with an empty proof and equal roots; the empty tree is a prefix of every tree.
    public static func verifyConsistency(
        oldSize: UInt64, newSize: UInt64, oldRoot: Digest256, newRoot: Digest256, proof: [Digest256]
    ) -> Bool {
        guard oldSize <= newSize else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return proof.isEmpty && oldRoot == emptyRoot }
        guard !proof.isEmpty else { return false }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}

extension MerkleTree {
    /// A tree held in memory: every complete, aligned subtree's hash, level by level (about 64 bytes
    /// per leaf). For verifying a log read from a file, and for tests.
    public struct InMemory: Sendable {
        /// `levels[h][i]`: the hash of the complete subtree of `2^h` leaves starting at leaf `i·2^h`.
        private var levels: [[Digest256]] = [[]]

        /// An empty tree.
        public init() {}

        /// How many leaves the tree holds.
        public var size: UInt64 { UInt64(levels[0].count) }

        /// The hash of leaf `index`.
        public func leaf(_ index: UInt64) -> Digest256 { levels[0][Int(index)] }

        /// Adds a leaf (its ``MerkleTree/leafHash(_:)``) and every subtree it completes.
        public mutating func append(_ leaf: Digest256) {
            levels[0].append(leaf)
            var level = 0
            var index = levels[0].count - 1
            while index & 1 == 1 {
                let parent = MerkleTree.nodeHash(levels[level][index - 1], levels[level][index])
                level += 1
                if levels.count == level { levels.append([]) }
                levels[level].append(parent)
                index >>= 1
            }
        }

        /// The complete subtree at `level`, `index`.
        public func subtree(level: Int, index: UInt64) throws(ModelError) -> Digest256 {
            guard level < levels.count, index < UInt64(levels[level].count) else {
                throw ModelError.merkle("no complete subtree at level \(level), index \(index)")
            }
            return levels[level][Int(index)]
        }

        /// The root of the tree of the first `size` leaves (all of them by default).
        public func root(size: UInt64? = nil) throws -> Digest256 {
            try MerkleTree.hash(start: 0, end: size ?? self.size) { try subtree(level: $0, index: $1) }
        }

        /// The audit path of leaf `index` in the tree of the first `size` leaves.
        public func inclusionProof(index: UInt64, size: UInt64) throws -> [Digest256] {
            try MerkleTree.inclusionProof(index: index, size: size) { try subtree(level: $0, index: $1) }
        }

        /// The consistency proof from the first `oldSize` leaves to the first `newSize`.
        public func consistencyProof(from oldSize: UInt64, to newSize: UInt64) throws -> [Digest256] {
            try MerkleTree.consistencyProof(from: oldSize, to: newSize) { try subtree(level: $0, index: $1) }
        }
    }
}
