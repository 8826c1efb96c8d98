import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel

/// Tree-head lines of an export (format version 2): written after the entries and before the
/// checkpoints, ordered by trust then tree size, and read back exactly.
@Suite struct TreeHeadExportTests {
    typealias F = Fixtures

    static func treeHead(_ entries: [AuditEntry], size: Int, minute: Int, key: SigningKey) throws -> SignedTreeHead {
        var tree = MerkleTree.InMemory()
        for entry in entries.prefix(size) { tree.append(MerkleTree.leafHash(entry.canonicalBytes)) }
        return SignedTreeHead.signed(
            trust: entries[0].trust, treeSize: UInt64(size), rootHash: try tree.root(), time: F.time(minute), key: key)
    }

    @Test func treeHeadsRoundTripBetweenEntriesAndCheckpoints() throws {
        let rrk = F.log(count: 5)
        let rq3 = F.log(F.rq3, count: 3)
        let own = HeldTreeHead(heldBy: F.rrk, treeHead: try Self.treeHead(rrk, size: 5, minute: 6, key: F.rrkKey))
        let older = HeldTreeHead(heldBy: F.rrk, treeHead: try Self.treeHead(rrk, size: 2, minute: 3, key: F.rrkKey))
        let peer = HeldTreeHead(heldBy: F.rrk, treeHead: try Self.treeHead(rq3, size: 3, minute: 4, key: F.rq3Key))
        let checkpoint = HeldCheckpoint(
            heldBy: F.rrk,
            checkpoint: AuditCheckpoint.signed(
                trust: F.rq3, sequence: 3, headHash: rq3[2].hash, time: F.time(4), key: F.rq3Key))
        let export = AuditExport(entries: rrk, checkpoints: [checkpoint], treeHeads: [peer, own, older])
        let bytes = try export.jsonLines()
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines.count == 9)
        #expect(lines[5].hasPrefix("{\"heldBy\":\"RRK\",\"rootHash\":\""))
        #expect(lines[5].hasSuffix("\"treeSize\":3,\"trust\":\"RQ3\",\"type\":\"treeHead\"}"))
        #expect(lines[6].hasSuffix("\"treeSize\":2,\"trust\":\"RRK\",\"type\":\"treeHead\"}"))
        #expect(lines[7].hasSuffix("\"treeSize\":5,\"trust\":\"RRK\",\"type\":\"treeHead\"}"))
        #expect(lines[8].contains("\"type\":\"checkpoint\""))
        let back = try AuditExport.parse(bytes)
        #expect(back.entries == rrk)
        #expect(back.checkpoints == [checkpoint])
        // Ordered by trust code (RQ3 < RRK), then tree size.
        #expect(back.treeHeads == [peer, older, own])
        #expect(try back.jsonLines() == bytes)
        for held in back.treeHeads {
            try held.treeHead.verify(with: F.keys[held.treeHead.trust]!)
        }
    }

    @Test func anExportWithoutTreeHeadsIsSourceCompatible() throws {
        let export = AuditExport(entries: F.log(count: 2))
        #expect(export.treeHeads.isEmpty)
        #expect(try AuditExport.parse(try export.jsonLines()) == export)
    }
}
