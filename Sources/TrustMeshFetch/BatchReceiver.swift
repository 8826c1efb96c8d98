import Logging
import NIOCore
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshStore

/// Verifies a batch's frames as they arrive: each is opened straight into the batch's pack
/// buffer and decompressed into one scratch buffer for its hash check, with no allocation per
/// chunk (docs/ARCHITECTURE.md, "Fetch"). A verified chunk's plaintext goes to the fetch's
/// ``TransferHeaderCheck`` while it is in hand, so an instance's header is read as its first chunk
/// arrives, not read back from the store before the commit. A frame that fails is skipped (its
/// chunk is asked for again); a malformed stream stops the batch (every chunk not yet verified is
/// asked for again).
struct BatchReceiver {
    let wanted: [Digest256: TransferManifest.Chunk]
    let transferID: String
    let key: SymmetricKey
    let pack: UnsafeMutableRawBufferPointer
    let plain: UnsafeMutableRawBufferPointer
    let holder: TrustID
    let logger: Logger
    /// Reads the headers of the instances whose chunks arrive; nil reads none.
    let headers: TransferHeaderCheck?
    let decompressor = ZstdDecompressor()
    /// Verified chunks and their offsets in `pack`.
    private(set) var good: [(chunk: TransferManifest.Chunk, offset: Int)] = []
    /// Bytes of `pack` filled.
    private(set) var used = 0
    private var seen: Set<Digest256> = []  // a hash sent twice counts once
    private var malformed = false

    init(
        batch: [TransferManifest.Chunk], transferID: String, key: SymmetricKey, pack: UnsafeMutableRawBufferPointer,
        plain: UnsafeMutableRawBufferPointer, holder: TrustID, logger: Logger, headers: TransferHeaderCheck? = nil
    ) {
        wanted = Dictionary(batch.map { ($0.hash, $0) }, uniquingKeysWith: { a, _ in a })
        self.transferID = transferID
        self.key = key
        self.pack = pack
        self.plain = plain
        self.holder = holder
        self.logger = logger
        self.headers = headers
    }

    /// Forgets what an earlier attempt at the batch received.
    mutating func restart() {
        good = []
        used = 0
        seen = []
        malformed = false
    }

    /// Verifies every whole frame at the front of `body` and moves past it.
    mutating func take(_ body: inout ByteBuffer) {
        while !malformed {
            let header: ChunkFrames.Header?
            do {
                header = try body.withUnsafeReadableBytes { try ChunkFrames.header($0) }
            } catch {
                logger.warning("malformed chunk batch", metadata: ["from": "\(holder)", "error": "\(error)"])
                malformed = true
                return
            }
            guard let header, body.readableBytes >= header.frameCount else { return }
            body.withUnsafeReadableBytes { bytes in
                let frame = UnsafeRawBufferPointer(rebasing: bytes[..<header.frameCount])
                if !verify(header, frame) {
                    logger.warning(
                        "chunk failed verification",
                        metadata: ["hash": "\(header.hash.hex.prefix(16))", "from": "\(holder)"])
                }
            }
            body.moveReaderIndex(forwardBy: header.frameCount)
        }
    }

    /// Opens, decompresses and hashes one frame's chunk into the pack; false if it fails.
    private mutating func verify(_ header: ChunkFrames.Header, _ frame: UnsafeRawBufferPointer) -> Bool {
        guard let chunk = wanted[header.hash] else { return true }  // not asked for: ignored
        guard seen.insert(header.hash).inserted else { return true }
        let nonce = UnsafeRawBufferPointer(rebasing: frame[ChunkFrames.nonceOffset..<ChunkFrames.lengthOffset])
        let sealed = UnsafeRawBufferPointer(rebasing: frame[ChunkFrames.headerBytes...])
        let slot = UnsafeMutableRawBufferPointer(rebasing: pack[used..<min(used + chunk.stored, pack.count)])
        guard sealed.count - XChaCha20Poly1305.tagByteCount == chunk.stored, slot.count == chunk.stored,
            let opened = try? XChaCha20Poly1305.open(
                sealed, key: key, nonce: nonce,
                associatedData: ChunkFrames.associatedData(transferID: transferID, hash: header.hash), into: slot),
            opened == chunk.stored,
            let size = try? decompressor.decompress(
                UnsafeRawBufferPointer(slot), into: UnsafeMutableRawBufferPointer(rebasing: plain[..<chunk.size])),
            size == chunk.size,
            BLAKE2b256.hash(UnsafeRawBufferPointer(rebasing: plain[..<size])) == chunk.hash
        else { return false }
        headers?.received(chunk.hash, plaintext: UnsafeRawBufferPointer(rebasing: plain[..<chunk.size]))
        good.append((chunk, used))
        used += chunk.stored
        return true
    }
}
