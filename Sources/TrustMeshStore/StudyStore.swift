import Foundation
import Glibc
import Synchronization
package import TrustMeshCompression
package import TrustMeshCrypto
import TrustMeshDICOM
public import TrustMeshModel

/// A node's imaging: DICOM instances cut into content-defined chunks, each chunk stored once
/// (zstd), and a catalogue of studies, series, instances and manifests.
///
/// ```swift
/// let store = try StudyStore(directory: "/var/lib/trustmesh/RRK")
/// let report = try await store.ingest(paths: ["/mnt/cd"])
/// let studies = try store.studies(nhs: NHSNumber("943 476 5919"))
/// ```
public final class StudyStore: Sendable {
    let catalogue: Catalogue
    let chunks: FileChunkStore
    let parameters: ChunkingParameters
    /// zstd level for new chunks: 1 is the best speed/ratio point for 16-bit pixel data (BASELINES.md).
    let compressionLevel: Int32 = 1

    /// Opens (creating if needed) the store in `directory`: `catalogue.sqlite` and `chunks/`.
    public convenience init(directory: String) throws {
        try self.init(directory: directory, parameters: .standard)
    }

    package init(directory: String, parameters: ChunkingParameters) throws {
        try FileChunkStore.makeDirectory(directory)
        catalogue = try Catalogue(path: directory + "/catalogue.sqlite")
        chunks = try FileChunkStore(root: directory + "/chunks")
        self.parameters = parameters
    }

    // MARK: Queries

    /// The studies this node holds for a patient, newest first.
    public func studies(nhs: NHSNumber) throws -> [StudySummary] { try catalogue.studies(nhs: nhs) }

    /// Studies held with no valid NHS number.
    public func unmatchedStudies() throws -> [StudySummary] { try catalogue.unmatchedStudies() }

    /// One study, if held.
    public func study(uid: String) throws -> StudySummary? { try catalogue.study(uid: uid) }

    /// Copies the catalogue's write-ahead log into its database file, off every request's path
    /// (``Catalogue/checkpoint()``); a running node calls it every 100 ms.
    /// - Returns: the log's frames and how many of them are now in the database.
    @discardableResult
    package func checkpointCatalogue() throws -> (walFrameCount: Int, checkpointedFrameCount: Int) {
        try catalogue.checkpoint()
    }

    /// The federated index records held by this node.
    package var index: IndexTable { catalogue.index }

    /// This trust's care relationships.
    package var care: CareTable { catalogue.care }

    /// This node's audit log and its peers' latest checkpoints.
    package var audit: AuditTable { catalogue.audit }
    /// The signed network statements (membership, certificates, revocations) held by this node.
    package var network: NetworkTable { catalogue.network }
    /// The pre-fetch tasks planned from the hospital's feeds.
    package var prefetch: PrefetchTable { catalogue.prefetch }

    /// The identity of a study's content (BLAKE2b-256 over its instances' manifests).
    package func studyManifestHash(uid: String) throws -> Digest256? { try catalogue.studyManifestHash(uid: uid) }

    /// Whether the study is held here.
    public func holds(studyUID: String) throws -> Bool { try catalogue.holds(studyUID: studyUID) }

    /// Totals over the store.
    public func statistics() throws -> StoreStatistics { try catalogue.statistics() }

    // MARK: Ingest

    /// Ingests DICOM files and folders (recursively).
    ///
    /// Each file is parsed and validated before any of its bytes are stored. Good files go in, in
    /// catalogue transactions of up to `batchSize` instances; a bad file is reported in
    /// ``IngestReport/failures`` with its reason and leaves no rows and no chunk files behind.
    /// Re-ingesting files already held adds nothing. A file whose series or instance is held in
    /// another study is refused (``IngestReport/Failure/identityConflict``), and so is one with
    /// other bytes under a held SOP Instance UID unless `mayCorrect` is set.
    /// - Parameters:
    ///   - paths: files and folders.
    ///   - mayCorrect: whether an instance of a held study may be replaced by other bytes under its
    ///     SOP Instance UID (a correction: the trust's operator only); each is listed in
    ///     ``IngestReport/corrections``.
    ///   - workers: files processed at once (nil: one per core).
    ///   - progress: called after each file.
    /// - Throws: ``IngestInterrupted`` only when the node itself fails (catalogue or disk), with
    ///   what was committed before it; bad input is reported instead.
    public func ingest(
        paths: [String],
        workers: Int? = nil,
        batchSize: Int = 64,
        mayCorrect: Bool = false,
        progress: (@Sendable (IngestProgress) -> Void)? = nil
    ) async throws -> IngestReport {
        var report = IngestReport()
        var files: [String] = []
        for path in paths {
            Self.collectFiles(path, into: &files, report: &report)
        }
        let state = IngestState()
        var pending: [PreparedInstance] = []
        var done = 0
        var studies: Set<String> = []
        var unmatched: Set<String> = []

        func commitPending() throws {
            guard !pending.isEmpty else { return }
            // Chunk files were written (writeback already started) and renamed; one flush of the
            // filesystem makes them and their names durable, then the rows that point at them.
            try chunks.syncFilesystem()
            let outcomes = try catalogue.commit(pending, chunks: state.writtenSizes(), mayCorrect: mayCorrect)
            for (instance, outcome) in zip(pending, outcomes) {
                guard report.count(outcome, of: instance) else { continue }
                studies.insert(instance.studyUID)
                if instance.nhsNumber == nil { unmatched.insert(instance.studyUID) }
            }
            pending.removeAll(keepingCapacity: true)
        }

        do {
            try await withThrowingTaskGroup(of: Result<PreparedInstance, StoreError>?.self) { group in
                var next = 0
                let width = max(1, workers ?? ProcessInfo.processInfo.activeProcessorCount)
                while next < files.count && next < width {
                    let path = files[next]
                    group.addTask { self.prepareCatching(path: path, state: state) }
                    next += 1
                }
                while let result = try await group.next() {
                    if next < files.count {
                        let path = files[next]
                        group.addTask { self.prepareCatching(path: path, state: state) }
                        next += 1
                    }
                    done += 1
                    switch result {
                    case .success(let instance):
                        report.bytesRead += instance.size
                        pending.append(instance)
                        if pending.count >= batchSize { try commitPending() }
                    case .failure(let error):
                        if !error.isBadInput { throw error }
                        report.failures.append(.init(path: error.path ?? "", reason: error.description))
                    case nil:
                        report.skipped += 1
                    }
                    progress?(
                        IngestProgress(
                            filesDone: done, filesTotal: files.count, bytesRead: report.bytesRead,
                            bytesStored: state.bytesStored, failures: report.failures.count
                        )
                    )
                }
                try commitPending()
            }
        } catch {
            removeOrphans(state)
            report.studies = studies.sorted()
            report.unmatchedStudies = unmatched.sorted()
            throw IngestInterrupted(report: report, cause: error)
        }
        removeOrphans(state)
        let written = state.writtenSizes()
        let listed = try catalogue.knownChunks(Set(written.keys))
        for hash in listed {
            report.chunksWritten += 1
            report.bytesStored += written[hash]!.stored
            report.newChunkBytes += written[hash]!.plain
        }
        report.studies = studies.sorted()
        report.unmatchedStudies = unmatched.sorted()
        return report
    }

    /// Chunks written by this ingest that no committed instance references (a file that failed
    /// after some of its chunks were written) are removed, so bad input leaves nothing behind.
    private func removeOrphans(_ state: IngestState) {
        let written = state.writtenSizes()
        guard let orphans = try? catalogue.unlisted(written.keys) else { return }
        for hash in orphans { chunks.remove(hash) }
    }

    private func prepareCatching(path: String, state: IngestState) -> Result<PreparedInstance, StoreError>? {
        do {
            return .success(try prepare(path: path, state: state))
        } catch let error as StoreError {
            if error.isSkip { return nil }
            return .failure(error)
        } catch {
            return .failure(.catalogue("\(error)"))
        }
    }

    /// Parses, validates, chunks and stores one file's bytes. Nothing reaches the catalogue here.
    func prepare(path: String, state: IngestState) throws -> PreparedInstance {
        if (path as NSString).lastPathComponent.uppercased() == "DICOMDIR" { throw StoreError.skip }
        let checked = try Self.check(path: path)
        let (info, a, study, series, sop) = (
            checked.info, checked.info.attributes, checked.studyUID, checked.seriesUID, checked.sopInstanceUID
        )

        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw StoreError.io(path: path, operation: "stat", errno: errno) }
        let size = Int(status.st_size)

        // A cut at the start of Pixel Data: header edits (a re-coded PatientName) then leave every
        // pixel-data chunk identical, however small the instance (departure from pure CDC, see
        // docs/ARCHITECTURE.md).
        var regions: [Range<Int>] = [0..<size]
        if let split = info.pixelDataOffset, split > 0, split < size {
            regions = [0..<split, split..<size]
        }
        let compressor = ZstdCompressor(level: compressionLevel)
        var manifest: [Digest256] = []
        for region in regions {
            let chunker = RegionChunker(fd: fd, path: path, range: region, parameters: parameters)
            while let chunk = try chunker.next() {
                let hash = BLAKE2b256.hash(chunk)
                manifest.append(hash)
                if try state.isWritten(hash) || catalogue.hasChunk(hash) { continue }
                let compressed = try compressor.compress(chunk)
                try compressed.withUnsafeBytes { bytes in
                    try chunks.write(hash, compressed: bytes)
                }
                state.recordWritten(hash, size: ChunkSize(plain: chunk.count, stored: compressed.count))
            }
        }
        if size == 0 { throw StoreError.notDICOM(path: path, reason: "the file is empty") }
        return PreparedInstance(
            path: path, attributes: a, studyUID: study, seriesUID: series, sopInstanceUID: sop,
            transferSyntaxUID: info.transferSyntax.uid, nhsNumber: checked.nhsNumber,
            size: size, manifest: manifest, rejection: try Self.rejectionNote(info, name: path)
        )
    }

    private static func collectFiles(_ path: String, into files: inout [String], report: inout IngestReport) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            report.failures.append(.init(path: path, reason: "\(path): no such file or folder"))
            return
        }
        guard isDirectory.boolValue else {
            files.append(path)
            return
        }
        guard let enumerator = FileManager.default.enumerator(atPath: path) else {
            report.failures.append(.init(path: path, reason: "\(path): cannot read the folder"))
            return
        }
        var found: [String] = []
        while let relative = enumerator.nextObject() as? String {
            let full = path + "/" + relative
            var dir: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &dir), !dir.boolValue {
                found.append(full)
            }
        }
        files.append(contentsOf: found.sorted())
    }

    // MARK: Export

    /// Writes a study's instances back as files, byte-identical to what was ingested:
    /// `directory/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`.
    ///
    /// Every chunk is decompressed with its known size as the ceiling and checked against its
    /// BLAKE2b-256 name before a byte of it is written. Each file appears whole (temporary name,
    /// fsync, link to its final name) or not at all. Every folder and file is created relative to
    /// its parent's descriptor (``OutputFolder``), never through a symbolic link, under names built
    /// from UIDs checked again here.
    /// - Throws: ``StoreError`` for an unknown study, an existing file or link, an invalid UID, or a
    ///   corrupt or missing chunk.
    public func export(studyUID: String, to directory: String) throws -> ExportReport {
        let instances = try catalogue.instances(ofStudy: studyUID)
        guard !instances.isEmpty else { throw StoreError.unknownStudy(studyUID) }
        for instance in instances {
            do {
                try DICOMUID.check(instance.seriesUID, attribute: "SeriesInstanceUID")
                try DICOMUID.check(instance.sopInstanceUID, attribute: "SOPInstanceUID")
            } catch {
                throw StoreError.invalidUID(path: "study \(studyUID)", error)
            }
        }
        let output = try Self.folder { try OutputFolder(path: directory, create: true) }
        let decompressor = ZstdDecompressor()
        var report = ExportReport(files: [], bytes: 0)
        var folders: [String: OutputFolder] = [:]
        for instance in instances {
            let folder: OutputFolder
            if let known = folders[instance.seriesUID] {
                folder = known
            } else {
                folder = try Self.folder { try output.subfolder(instance.seriesUID) }
                folders[instance.seriesUID] = folder
            }
            let name = instance.sopInstanceUID + ".dcm"
            let final = folder.path + "/" + name
            if folder.has(name) { throw StoreError.exists(path: final) }
            let temp = name + ".partial"
            let fd = try Self.folder { try folder.createFile(temp, mode: 0o644) }
            do {
                defer { close(fd) }
                for chunk in instance.chunks {
                    let plain = try readChunk(chunk.hash, size: chunk.size, decompressor: decompressor)
                    try plain.withUnsafeBytes { bytes in try Self.writeAll(fd, bytes, path: folder.path + "/" + temp) }
                }
                guard fsync(fd) == 0 else {
                    throw StoreError.io(path: folder.path + "/" + temp, operation: "fsync", errno: errno)
                }
                try Self.folder { try folder.publish(temp, as: name) }
            } catch {
                folder.remove(temp)
                throw error
            }
            report.files.append(final)
            report.bytes += instance.size
        }
        return report
    }

    /// An ``OutputFolder`` operation, its error as a ``StoreError``.
    private static func folder<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as OutputFolderError {
            if error.errno == EEXIST { throw StoreError.exists(path: error.path) }
            if error.errno == ELOOP || error.errno == ENOTDIR || error.errno == EINVAL {
                throw StoreError.output("\(error)")
            }
            throw StoreError.io(path: error.path, operation: error.operation, errno: error.errno)
        }
    }

    /// A chunk's plaintext, verified against its hash.
    package func readChunk(_ hash: Digest256, size: Int, decompressor: ZstdDecompressor) throws -> [UInt8] {
        let compressed = try storedChunk(hash)
        let plain: [UInt8]
        do {
            plain = try compressed.withUnsafeBytes { bytes in
                try decompressor.decompress(bytes, limit: size)
            }
        } catch {
            throw StoreError.corruptChunk(hash: hash.hex, reason: "\(error)")
        }
        guard plain.count == size else {
            throw StoreError.corruptChunk(hash: hash.hex, reason: "\(plain.count) bytes where \(size) were expected")
        }
        guard BLAKE2b256.hash(plain) == hash else {
            throw StoreError.corruptChunk(hash: hash.hex, reason: "its content does not match its hash")
        }
        return plain
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(StoreError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "write", errno: errno)
            }
            done += n
        }
    }
}

/// Chunks written during one ingest (shared by its workers).
final class IngestState: Sendable {
    private struct State {
        var written: [Digest256: ChunkSize] = [:]
        var bytesStored = 0
    }
    private let state = Mutex(State())

    func isWritten(_ hash: Digest256) -> Bool { state.withLock { $0.written[hash] != nil } }

    func recordWritten(_ hash: Digest256, size: ChunkSize) {
        state.withLock {
            if $0.written.updateValue(size, forKey: hash) == nil { $0.bytesStored += size.stored }
        }
    }

    func writtenSizes() -> [Digest256: ChunkSize] { state.withLock { $0.written } }

    var bytesStored: Int { state.withLock { $0.bytesStored } }
}
