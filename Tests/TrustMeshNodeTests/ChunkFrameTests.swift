import Foundation
import Logging
import NIOCore
import Testing
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore

@testable import TrustMeshFetch
@testable import TrustMeshNode
@testable import TrustMeshStore

/// A chunk batch as the requester receives it: frames sealed by the holder's code, arriving in
/// pieces of any size, verified as each frame is whole.
@Suite struct ChunkFrameTests {
    let key = SymmetricKey()
    let transferID = "0123456789abcdef"

    /// Chunks of compressible, distinct plaintext, as the holder stores them.
    func chunks(_ count: Int) throws -> [(chunk: TransferManifest.Chunk, stored: [UInt8])] {
        var generator = SystemRandomNumberGenerator()
        return try (0..<count).map { index in
            let plain =
                (0..<(1000 + index * 3000)).map { i in UInt8(truncatingIfNeeded: i / 7 + index) }
                + (0..<500).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let stored = try ZstdCompressor().compress(plain)
            return (
                TransferManifest.Chunk(hash: BLAKE2b256.hash(plain), size: plain.count, stored: stored.count), stored
            )
        }
    }

    /// The batch answer the holder would send for `chunks`, `tamper` flipping a byte of a frame.
    func answer(_ chunks: [(chunk: TransferManifest.Chunk, stored: [UInt8])], tamper: Int? = nil) throws -> [UInt8] {
        var out = ByteBuffer()
        for (index, (chunk, stored)) in chunks.enumerated() {
            try ChunkFrames.append(
                hash: chunk.hash, storedCount: stored.count, transferID: transferID, key: key, to: &out
            ) { space in
                space.copyBytes(from: stored)
                if index == tamper { space[space.count / 3] ^= 0x01 }
            }
        }
        return Array(buffer: out)
    }

    /// Feeds `bytes` to a receiver in pieces of the given sizes (cycled), as a stream would.
    func receive(_ bytes: [UInt8], pieces: [Int], batch: [TransferManifest.Chunk]) -> (
        good: [(chunk: TransferManifest.Chunk, offset: Int)], pack: [UInt8], left: Int
    ) {
        let pack = UnsafeMutableRawBufferPointer.allocate(byteCount: batch.reduce(0) { $0 + $1.stored }, alignment: 16)
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: batch.map(\.size).max()!, alignment: 16)
        defer {
            pack.deallocate()
            plain.deallocate()
        }
        var receiver = BatchReceiver(
            batch: batch, transferID: transferID, key: key, pack: pack, plain: plain, holder: try! TrustID("RRK"),
            logger: Logger(label: "test"))
        var body = ByteBuffer()
        var at = 0
        var next = 0
        while at < bytes.count {
            let size = min(pieces[next % pieces.count], bytes.count - at)
            body.writeBytes(bytes[at..<(at + size)])
            receiver.take(&body)
            at += size
            next += 1
        }
        return (receiver.good, Array(pack[..<receiver.used]), body.readableBytes)
    }

    @Test(arguments: [[1], [7, 1, 300], [4096], [65536], [1 << 20]])
    func framesSplitAnywhereAreAllVerifiedIntoThePack(pieces: [Int]) throws {
        let sent = try chunks(6)
        let result = receive(try answer(sent), pieces: pieces, batch: sent.map(\.chunk))
        #expect(result.good.map(\.chunk) == sent.map(\.chunk))
        #expect(result.pack == sent.flatMap(\.stored))
        #expect(result.left == 0)
    }

    @Test func aTamperedFrameFailsAloneAndTheRestAreKept() throws {
        let sent = try chunks(5)
        let result = receive(try answer(sent, tamper: 2), pieces: [1000], batch: sent.map(\.chunk))
        #expect(result.good.map(\.chunk) == [0, 1, 3, 4].map { sent[$0].chunk })
        #expect(result.pack == [0, 1, 3, 4].flatMap { sent[$0].stored })
    }

    @Test func aFrameNotAskedForIsSkippedAndAHashSentTwiceCountsOnce() throws {
        let sent = try chunks(4)
        let bytes = try answer([sent[0], sent[1], sent[1], sent[3]])
        let result = receive(bytes, pieces: [333], batch: [sent[0], sent[1]].map(\.chunk))
        #expect(result.good.map(\.chunk) == [sent[0].chunk, sent[1].chunk])
        #expect(result.left == 0)
    }

    @Test func aFrameAnnouncingMoreThanAnyChunkEndsTheBatchWithoutWaitingForIt() throws {
        let sent = try chunks(3)
        var bytes = try answer(sent)
        // The second frame's length field: after the first frame, its hash and its nonce.
        let second = ChunkFrames.headerBytes + sent[0].stored.count + XChaCha20Poly1305.tagByteCount
        let length = second + 32 + XChaCha20Poly1305.nonceByteCount
        bytes.replaceSubrange(length..<(length + 4), with: [0x00, 0x40, 0x00, 0x00])  // 4 MiB
        let result = receive(bytes, pieces: [512], batch: sent.map(\.chunk))
        #expect(result.good.map(\.chunk) == [sent[0].chunk])
        #expect(result.left > 0)  // the rest is left unread, not buffered in hope
    }
}
