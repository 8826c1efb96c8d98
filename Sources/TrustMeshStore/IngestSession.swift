import Foundation
import Glibc
import Synchronization
import TrustMeshCompression
import TrustMeshCrypto
package import TrustMeshDICOM

/// An ingest whose instances arrive one at a time instead of as files listed up front (a STOW-RS
/// body, part by part): each instance is chunked and its new chunks written as soon as it is whole,
/// by as many tasks at once as the caller likes, while the next one is still arriving; the
/// catalogue sees them only in ``commit(_:)``.
///
/// The rules and results are those of ``StudyStore/ingest(paths:workers:batchSize:mayCorrect:progress:)``:
/// the same checks before a byte is stored, the same chunk boundaries (so the same manifests and
/// deduplication), the same commit and its refusals. What differs is when the catalogue commit
/// happens: only once the caller says every instance has arrived, so a session that is abandoned
/// (its request refused or its client gone mid-body) commits nothing, and ``abandon()`` removes
/// the chunks it wrote that nothing committed references.
///
/// ```swift
/// let session = IngestSession(store: store, mayCorrect: false)
/// let prepared = try session.prepare(name: "part-1.dcm", info: info, content: .bytes(bytes))
/// let report = try session.commit([prepared])
/// ```
package final class IngestSession: Sendable {
    /// Where an instance's bytes are while it is prepared.
    package enum Content: Sendable {
        /// The whole instance, in memory.
        case bytes([UInt8])
        /// A file holding the whole instance (a part too large to keep in memory).
        case file(path: String)
    }

    private let store: StudyStore
    private let mayCorrect: Bool
    private let state = IngestState()
    /// Whether a background flush is running.
    private let flushing = Mutex(false)
    /// The chunks this session wrote (or is writing), until it ends.
    private let mine = Mutex(Set<Digest256>())
    /// Chunks written by sessions of this process that have not ended, with how many wrote each.
    /// Two requests may carry the same instances at once (a client that timed out sends its study
    /// again while the first request is still being received); one that ends without committing a
    /// chunk must not remove it while another may still commit it. Registering before writing and
    /// removing under the same lock orders every write after a removal of the same chunk. Keyed by
    /// the chunk's file, so sessions of different stores in one process (tests) never meet.
    private static let live = Mutex([String: Int]())

    /// - Parameters:
    ///   - store: where the instances go.
    ///   - mayCorrect: as for ``StudyStore/ingest(paths:workers:batchSize:mayCorrect:progress:)``:
    ///     whether an instance of a held study may be replaced by other bytes under its SOP
    ///     Instance UID (the trust's operator only).
    package init(store: StudyStore, mayCorrect: Bool) {
        self.store = store
        self.mayCorrect = mayCorrect
    }

    /// Validates one instance as ingest validates a file, then chunks it and writes the chunks this
    /// node does not hold yet (not yet durable, not yet listed: ``commit(_:)`` makes them so).
    /// Safe to call from several tasks at once.
    /// - Parameters:
    ///   - name: what refusals and the report call the instance (e.g. `part-3.dcm`); never a
    ///     path the client chose.
    ///   - info: `DICOMReader`'s reading of exactly these bytes.
    ///   - content: the instance's bytes.
    /// - Throws: ``StoreError`` always: bad input (``StoreError/isBadInput``: a missing or invalid
    ///   UID, an empty instance) leaves nothing behind once the session ends; anything else (a full
    ///   disk, an unreadable file, the catalogue) is the node's own failure.
    package func prepare(name: String, info: DICOMFileInfo, content: Content) throws -> PreparedInstance {
        let a = info.attributes
        let (study, series, sop) = try StudyStore.identity(of: a, name: name)
        let rejection: RejectionNote?
        switch content {
        case .bytes(let bytes): rejection = try StudyStore.rejectionNote(info, name: name, bytes: bytes)
        case .file(let path): rejection = try StudyStore.rejectionNote(info, name: name, path: path)
        }
        let compressor = ZstdCompressor(level: store.compressionLevel)
        let manifest: [Digest256]
        let size: Int
        switch content {
        case .bytes(let bytes):
            size = bytes.count
            guard size > 0 else { throw StoreError.notDICOM(path: name, reason: "the file is empty") }
            manifest = try bytes.withUnsafeBytes { all in
                try chunkInMemory(all, regions: Self.regions(size: size, info: info), compressor: compressor)
            }
        case .file(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError.io(path: path, operation: "open", errno: errno) }
            defer { close(fd) }
            var status = stat()
            guard fstat(fd, &status) == 0 else { throw StoreError.io(path: path, operation: "stat", errno: errno) }
            size = Int(status.st_size)
            guard size > 0 else { throw StoreError.notDICOM(path: name, reason: "the file is empty") }
            var hashes: [Digest256] = []
            for region in Self.regions(size: size, info: info) {
                let chunker = RegionChunker(fd: fd, path: path, range: region, parameters: store.parameters)
                while let chunk = try chunker.next() { hashes.append(try keep(chunk, compressor)) }
            }
            manifest = hashes
        }
        return PreparedInstance(
            path: name, attributes: a, studyUID: study, seriesUID: series, sopInstanceUID: sop,
            transferSyntaxUID: info.transferSyntax.uid, nhsNumber: PatientMatching.nhsNumber(for: a),
            size: size, manifest: manifest, rejection: rejection)
    }

    /// The regions chunked separately, as ingest cuts them: a cut at the start of Pixel Data, so
    /// header edits leave every pixel-data chunk identical (docs/ARCHITECTURE.md).
    private static func regions(size: Int, info: DICOMFileInfo) -> [Range<Int>] {
        if let split = info.pixelDataOffset, split > 0, split < size { return [0..<split, split..<size] }
        return [0..<size]
    }

    /// Chunks bytes already in memory where ``RegionChunker`` would cut them: each cut is decided
    /// over the rest of the region, which holds at least a maximum-size chunk or ends the stream
    /// (``Chunker/cutPoint(in:parameters:)``), so the chunks are the same as a file's.
    private func chunkInMemory(
        _ all: UnsafeRawBufferPointer, regions: [Range<Int>], compressor: ZstdCompressor
    ) throws -> [Digest256] {
        var hashes: [Digest256] = []
        for region in regions {
            var offset = region.lowerBound
            while offset < region.upperBound {
                let rest = UnsafeRawBufferPointer(rebasing: all[offset..<region.upperBound])
                let cut = Chunker.cutPoint(in: rest, parameters: store.parameters)
                hashes.append(try keep(UnsafeRawBufferPointer(rebasing: rest[0..<cut]), compressor))
                offset += cut
            }
        }
        return hashes
    }

    /// Hashes a chunk and writes it unless this session or the catalogue already has it.
    private func keep(_ chunk: UnsafeRawBufferPointer, _ compressor: ZstdCompressor) throws -> Digest256 {
        let hash = BLAKE2b256.hash(chunk)
        let held: Bool
        do { held = try state.isWritten(hash) || store.catalogue.hasChunk(hash) } catch {
            throw StoreError.catalogue("\(error)")
        }
        if held { return hash }
        if mine.withLock({ $0.insert(hash).inserted }) {
            Self.live.withLock { $0[store.chunks.path(hash), default: 0] += 1 }
        }
        let compressed: [UInt8]
        do { compressed = try compressor.compress(chunk) } catch {
            throw StoreError.catalogue("compressing a chunk: \(error)")
        }
        try compressed.withUnsafeBytes { bytes in try store.chunks.write(hash, compressed: bytes) }
        state.recordWritten(hash, size: ChunkSize(plain: chunk.count, stored: compressed.count))
        return hash
    }

    /// Starts making the chunks written so far durable on a thread of its own (one `syncfs(2)` at a
    /// time; a call while one runs does nothing), so that the flush ``commit(_:)`` waits for at
    /// the end has little left to do. Durability still rests on that last flush: an error here is
    /// ignored, as that flush finds it again.
    package func flushInBackground() {
        let start = flushing.withLock { running in
            defer { running = true }
            return !running
        }
        guard start else { return }
        Thread.detachNewThread { [self] in
            try? store.chunks.syncFilesystem()
            flushing.withLock { $0 = false }
        }
    }

    /// Makes the written chunks durable (one flush of the filesystem), then commits the instances to
    /// the catalogue in order, `batchSize` to a transaction, exactly as ingest commits: an instance
    /// that contradicts what is held is refused (listed in ``IngestReport/failures`` under its
    /// name), and only it. Ends the session: chunks nothing committed references are removed.
    /// - Parameter instances: the session's prepared instances, in the order they arrived.
    /// - Returns: what was stored, as ingest reports it.
    /// - Throws: ``IngestInterrupted`` when the node itself fails (catalogue or disk), with the
    ///   batches committed before it; nothing of the rest is kept.
    package func commit(_ instances: [PreparedInstance], batchSize: Int = 64) throws(IngestInterrupted)
        -> IngestReport
    {
        var report = IngestReport()
        var studies: Set<String> = []
        var unmatched: Set<String> = []
        do {
            if !instances.isEmpty { try store.chunks.syncFilesystem() }
            let written = state.writtenSizes()
            var start = 0
            while start < instances.count {
                let batch = Array(instances[start..<min(start + batchSize, instances.count)])
                start += batch.count
                let outcomes = try store.catalogue.commit(batch, chunks: written, mayCorrect: mayCorrect)
                for (instance, outcome) in zip(batch, outcomes) {
                    report.bytesRead += instance.size
                    guard report.count(outcome, of: instance) else { continue }
                    studies.insert(instance.studyUID)
                    if instance.nhsNumber == nil { unmatched.insert(instance.studyUID) }
                }
            }
            abandon()
            let listed = try store.catalogue.knownChunks(Set(written.keys))
            for hash in listed {
                report.chunksWritten += 1
                report.bytesStored += written[hash]!.stored
                report.newChunkBytes += written[hash]!.plain
            }
        } catch {
            abandon()
            report.studies = studies.sorted()
            report.unmatchedStudies = unmatched.sorted()
            throw IngestInterrupted(report: report, cause: error)
        }
        report.studies = studies.sorted()
        report.unmatchedStudies = unmatched.sorted()
        return report
    }

    /// Ends the session without committing (or after ``commit(_:)``): removes the chunks it wrote
    /// that no committed instance references and no other live session of this process has
    /// written, so what was refused or cut off leaves nothing behind. Calling it again does nothing.
    package func abandon() {
        let written = mine.withLock { written in
            defer { written = [] }
            return written
        }
        guard !written.isEmpty else { return }
        let unlisted = Set((try? store.catalogue.unlisted(written)) ?? [])
        Self.live.withLock { live in
            for hash in written {
                let file = store.chunks.path(hash)
                let others = live[file, default: 1] - 1
                live[file] = others == 0 ? nil : others
                if others == 0 && unlisted.contains(hash) { store.chunks.remove(hash) }
            }
        }
    }
}
