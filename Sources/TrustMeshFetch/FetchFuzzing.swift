import Logging
import NIOCore
package import TrustMeshCrypto
import TrustMeshModel
package import TrustMeshStore

/// The batch receiver and frame writer, reachable by the fuzz targets (`TrustMeshFuzz`) without
/// widening them to the rest of the node.
package enum FetchFuzzing {
    /// Frames for `chunks` as a holder sends them.
    package static func frames(
        _ chunks: [(chunk: TransferManifest.Chunk, stored: [UInt8])], transferID: String, key: SymmetricKey
    ) throws -> [UInt8] {
        var out = ByteBuffer()
        for (chunk, stored) in chunks {
            try ChunkFrames.append(
                hash: chunk.hash, storedCount: stored.count, transferID: transferID, key: key, to: &out
            ) { space in space.copyBytes(from: stored) }
        }
        return Array(out.readableBytesView)
    }

    /// Feeds `bytes` to a receiver expecting `chunks`, in two pieces split where the input says.
    package static func receive(
        _ bytes: [UInt8], expecting chunks: [TransferManifest.Chunk], transferID: String, key: SymmetricKey
    ) {
        let buffers = BatchBuffers()
        let space = buffers.reserve(
            pack: chunks.reduce(0) { $0 + $1.stored }, plain: chunks.map(\.size).max() ?? 0)
        var receiver = BatchReceiver(
            batch: chunks, transferID: transferID, key: key, pack: space.pack, plain: space.plain,
            holder: try! TrustID("RRK"), logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        var body = ByteBuffer()
        for piece in [bytes[..<split], bytes[split...]] {
            body.writeBytes(piece)
            receiver.take(&body)
        }
        precondition(receiver.used <= space.pack.count, "a batch receiver wrote past its pack")
    }
}
