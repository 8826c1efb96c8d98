import Testing
import TrustMeshCrypto
import TrustMeshModel

/// The Merkle tree against RFC 9162's recursive definitions, computed naively here, and its proofs
/// against tampering.
@Suite struct MerkleTreeTests {
    /// RFC 9162 §2.1.1's MTH, straight from the definition.
    static func mth(_ leaves: ArraySlice<Digest256>) -> Digest256 {
        if leaves.isEmpty { return BLAKE2b256.hash([UInt8]()) }
        if leaves.count == 1 { return leaves.first! }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let start = leaves.startIndex
        return MerkleTree.nodeHash(mth(leaves[start..<start + k]), mth(leaves[(start + k)...]))
    }

    static func leaves(_ n: Int) -> [Digest256] {
        (0..<n).map { MerkleTree.leafHash(Array("entry \($0)".utf8)) }
    }

    static func tree(_ leaves: [Digest256]) -> MerkleTree.InMemory {
        var tree = MerkleTree.InMemory()
        for leaf in leaves { tree.append(leaf) }
        return tree
    }

    @Test func hashesAreDomainSeparated() throws {
        let data: [UInt8] = Array("x".utf8)
        #expect(MerkleTree.leafHash(data) == BLAKE2b256.hash([0x00] + data))
        let a = MerkleTree.leafHash([1])
        let b = MerkleTree.leafHash([2])
        #expect(MerkleTree.nodeHash(a, b) == BLAKE2b256.hash([0x01] + a.rawBytes + b.rawBytes))
        #expect(MerkleTree.nodeHash(a, b) != MerkleTree.nodeHash(b, a))
        #expect(MerkleTree.emptyRoot == BLAKE2b256.hash([UInt8]()))
    }

    @Test func rootsMatchTheDefinitionAtEverySize() throws {
        let all = Self.leaves(70)
        let tree = Self.tree(all)
        for size in 0...70 {
            #expect(try tree.root(size: UInt64(size)) == Self.mth(all[0..<size]), "size \(size)")
        }
    }

    @Test func everyInclusionProofVerifiesAndTamperingFails() throws {
        let all = Self.leaves(33)
        let tree = Self.tree(all)
        for size in 1...33 {
            let root = try tree.root(size: UInt64(size))
            for index in 0..<size {
                let proof = try tree.inclusionProof(index: UInt64(index), size: UInt64(size))
                #expect(proof.count <= 64 - UInt64(size).leadingZeroBitCount)
                #expect(
                    MerkleTree.verifyInclusion(
                        leaf: all[index], index: UInt64(index), size: UInt64(size), proof: proof, root: root))
                // Another leaf, another position, another size, a changed path: all refused.
                let other = all[(index + 1) % size]
                if size > 1 {
                    #expect(
                        !MerkleTree.verifyInclusion(
                            leaf: other, index: UInt64(index), size: UInt64(size), proof: proof, root: root))
                    #expect(
                        !MerkleTree.verifyInclusion(
                            leaf: all[index], index: UInt64((index + 1) % size), size: UInt64(size), proof: proof,
                            root: root))
                }
                if size < all.count {
                    // Not in the larger tree's head: its root differs.
                    let larger = try tree.root(size: UInt64(size + 1))
                    #expect(
                        !MerkleTree.verifyInclusion(
                            leaf: all[index], index: UInt64(index), size: UInt64(size + 1), proof: proof, root: larger))
                }
                if !proof.isEmpty {
                    var bent = proof
                    bent[bent.count / 2] = MerkleTree.leafHash([0xFF])
                    #expect(
                        !MerkleTree.verifyInclusion(
                            leaf: all[index], index: UInt64(index), size: UInt64(size), proof: bent, root: root))
                    #expect(
                        !MerkleTree.verifyInclusion(
                            leaf: all[index], index: UInt64(index), size: UInt64(size), proof: proof.dropLast(),
                            root: root))
                }
            }
        }
    }

    @Test func everyConsistencyProofVerifiesAndForksFail() throws {
        let all = Self.leaves(40)
        let tree = Self.tree(all)
        // A fork: the same first 20 leaves, then different ones.
        var forked = Array(all[0..<20])
        forked += (20..<40).map { MerkleTree.leafHash(Array("forged \($0)".utf8)) }
        let fork = Self.tree(forked)
        for newSize in 1...40 {
            let newRoot = try tree.root(size: UInt64(newSize))
            for oldSize in 0...newSize {
                let oldRoot = try tree.root(size: UInt64(oldSize))
                let proof = try tree.consistencyProof(from: UInt64(oldSize), to: UInt64(newSize))
                #expect(
                    MerkleTree.verifyConsistency(
                        oldSize: UInt64(oldSize), newSize: UInt64(newSize), oldRoot: oldRoot, newRoot: newRoot,
                        proof: proof), "\(oldSize) → \(newSize)")
                // The forked history grows from the same prefix only up to leaf 20.
                if oldSize > 20 && oldSize < newSize {
                    let forkedOld = try fork.root(size: UInt64(oldSize))
                    #expect(
                        !MerkleTree.verifyConsistency(
                            oldSize: UInt64(oldSize), newSize: UInt64(newSize), oldRoot: forkedOld, newRoot: newRoot,
                            proof: proof))
                    let forkProof = try fork.consistencyProof(from: UInt64(oldSize), to: UInt64(newSize))
                    #expect(
                        !MerkleTree.verifyConsistency(
                            oldSize: UInt64(oldSize), newSize: UInt64(newSize), oldRoot: oldRoot, newRoot: newRoot,
                            proof: forkProof))
                }
                if oldSize > 0 && oldSize < newSize {
                    #expect(
                        !MerkleTree.verifyConsistency(
                            oldSize: UInt64(oldSize), newSize: UInt64(newSize), oldRoot: oldRoot, newRoot: newRoot,
                            proof: []))
                    #expect(
                        !MerkleTree.verifyConsistency(
                            oldSize: UInt64(newSize), newSize: UInt64(oldSize), oldRoot: newRoot, newRoot: oldRoot,
                            proof: proof))
                }
            }
        }
    }

    @Test func treeHeadSignatureCoversEveryField() throws {
        let key = try SigningKey(seed: Array(1...32))
        let root = MerkleTree.leafHash([7])
        let head = SignedTreeHead.signed(
            trust: try TrustID("RRK"), treeSize: 5, rootHash: root, time: "2026-12-05T09:00:00Z", key: key)
        try head.verify(with: key.verifyingKey)
        let variants = [
            SignedTreeHead(
                trust: try TrustID("RQ3"), treeSize: 5, rootHash: root, time: head.time, signature: head.signature),
            SignedTreeHead(
                trust: head.trust, treeSize: 4, rootHash: root, time: head.time, signature: head.signature),
            SignedTreeHead(
                trust: head.trust, treeSize: 5, rootHash: MerkleTree.emptyRoot, time: head.time,
                signature: head.signature),
            SignedTreeHead(
                trust: head.trust, treeSize: 5, rootHash: root, time: "2026-12-05T09:00:01Z",
                signature: head.signature),
        ]
        for variant in variants {
            #expect(throws: CryptoError.self) { try variant.verify(with: key.verifyingKey) }
        }
        #expect(head.contradicts(variants[2]))
        #expect(!head.contradicts(variants[1]))
    }
}
