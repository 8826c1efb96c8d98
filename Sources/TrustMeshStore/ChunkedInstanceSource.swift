import Foundation
package import TrustMeshCompression
package import TrustMeshCrypto
package import TrustMeshDICOM

/// An instance's bytes read from its stored chunks in order, for ``DICOMReader``: one chunk in
/// memory at a time, each decompressed (with its recorded size as the ceiling) and verified only
/// when read; skipping past a whole chunk (pixel data) does not read it. The one byte source over
/// stored chunks: the viewer's thumbnails, DICOMweb metadata and the DICOM C-MOVE all read through it.
package struct ChunkedInstanceSource: ByteSource {
    /// One chunk of the instance: its hash and plaintext size.
    package struct Chunk: Sendable {
        package var hash: Digest256
        package var size: Int
    }

    let store: StudyStore
    let chunks: [Chunk]
    private var index = 0
    private var current: [UInt8] = []
    private var offset = 0
    private let decompressor: ZstdDecompressor
    /// A store failure (corrupt chunk), kept because ``ByteSource`` throws only ``DICOMError``.
    package private(set) var failure: StoreError?

    /// An instance as the catalogue lists it.
    init(store: StudyStore, chunks: [StoredInstance.Chunk]) {
        self.init(store: store, chunks: chunks.map { Chunk(hash: $0.hash, size: $0.size) })
    }

    /// An instance as a study's manifest lists it; `decompressor` may be shared by the sources
    /// one task reads in turn.
    package init(store: StudyStore, chunks: [TransferManifest.Chunk], decompressor: ZstdDecompressor) {
        self.init(store: store, chunks: chunks.map { Chunk(hash: $0.hash, size: $0.size) }, decompressor: decompressor)
    }

    private init(store: StudyStore, chunks: [Chunk], decompressor: ZstdDecompressor = ZstdDecompressor()) {
        self.store = store
        self.chunks = chunks
        self.decompressor = decompressor
    }

    private mutating func load() throws(DICOMError) -> Bool {
        while offset >= current.count {
            guard index < chunks.count else { return false }
            let chunk = chunks[index]
            index += 1
            do {
                current = try store.readChunk(chunk.hash, size: chunk.size, decompressor: decompressor)
            } catch {
                failure = error as? StoreError ?? .catalogue("\(error)")
                throw .io("read a stored chunk", path: chunk.hash.hex, errno: EIO)
            }
            offset = 0
        }
        return true
    }

    package mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        guard buffer.count > 0, try load() else { return 0 }
        let count = min(buffer.count, current.count - offset)
        current.withUnsafeBytes { bytes in
            buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }

    package mutating func skip(_ count: Int) throws(DICOMError) -> Int {
        var remaining = max(0, count)
        // What is left of the chunk in hand, then whole chunks by their recorded size, unread.
        let inHand = min(remaining, current.count - offset)
        offset += inHand
        remaining -= inHand
        while remaining > 0, index < chunks.count, chunks[index].size <= remaining {
            remaining -= chunks[index].size
            index += 1
        }
        if remaining > 0, try load() {
            let step = min(remaining, current.count - offset)
            offset += step
            remaining -= step
        }
        return count - remaining
    }
}
