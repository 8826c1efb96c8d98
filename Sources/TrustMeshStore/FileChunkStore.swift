internal import CLinux
import Foundation
import Glibc
package import TrustMeshCrypto

/// Where a chunk's stored bytes are when they sit in a pack file rather than a file of their own.
package struct PackLocation: Sendable, Equatable {
    /// The pack's file name under `chunks/packs/`.
    package var pack: String
    /// Byte offset of the chunk's zstd frame in the pack.
    package var offset: Int
    /// Bytes of the frame.
    package var length: Int
}

/// Chunk bytes in a directory: `chunks/ab/abcdef…` (256 fan-out folders by first byte), and
/// `chunks/packs/*.pack` for chunks that arrived in a batch from a peer. Each chunk is stored once,
/// named by the BLAKE2b-256 of its plaintext, holding its zstd frame exactly as it is sent to peers.
///
/// The catalogue, not the directory, says which chunks exist and where: a file or pack with no
/// catalogue row is an orphan of an interrupted ingest or fetch (a loose chunk file is simply
/// overwritten when that chunk is next written).
///
/// Ingest writes one file per chunk, so a file that fails validation halfway leaves nothing behind
/// (its chunk files are removed). A fetch stores each verified batch as one pack file: one create,
/// one `fdatasync` and one folder `fsync` per batch instead of an inode per chunk and a whole
/// filesystem flush (docs/ARCHITECTURE.md, "Pack files"). Packs are immutable once written.
package final class FileChunkStore: Sendable {
    private let root: String

    /// Opens (creating if needed) the chunk folders under `root`.
    package init(root: String) throws(StoreError) {
        self.root = root
        try Self.makeDirectory(root)
    }

    package func path(_ hash: Digest256) -> String {
        let hex = hash.hex
        return root + "/" + hex.prefix(2) + "/" + hex
    }

    /// Whether a chunk's stored bytes are on disk where the catalogue says (a file of `stored`
    /// bytes, or a pack long enough to hold it): one `stat`, no read.
    package func isPresent(_ hash: Digest256, stored: Int, at location: PackLocation?) -> Bool {
        var info = stat()
        if let location {
            return stat(root + "/packs/" + location.pack, &info) == 0
                && Int(info.st_size) >= location.offset + location.length
        }
        return stat(path(hash), &info) == 0 && Int(info.st_size) == stored
    }

    /// Writes a chunk as a file of its own, not yet durable: the caller must call
    /// ``syncFilesystem()`` before any catalogue row points at it (a batch then pays for one flush
    /// instead of one per chunk). Until then a crash may leave a partly written file under the
    /// final name, which is harmless: the catalogue does not list it, and the next write of that
    /// chunk replaces it.
    package func write(_ hash: Digest256, compressed: UnsafeRawBufferPointer) throws(StoreError) {
        let hex = hash.hex
        let directory = root + "/" + hex.prefix(2)
        try Self.makeDirectory(directory)
        let final = directory + "/" + hex
        // A unique temporary name per writer (two ingests may write the same chunk at once), in the
        // chunk's own folder: creating every temporary file in one shared folder serialises writers
        // on that folder's lock, and a rename within a folder is the cheapest kind.
        let temp = directory + "/." + hex + "." + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(path: temp, operation: "create", errno: errno) }
        do {
            try Self.writeAll(fd, compressed, path: temp)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        // Start writing back now; the batch's flush then waits for less (advisory: errors are caught
        // by that flush).
        _ = trustmesh_start_writeback(fd)
        close(fd)
        if rename(temp, final) != 0 {
            let e = errno
            unlink(temp)
            throw .io(path: final, operation: "rename", errno: e)
        }
    }

    package func read(_ hash: Digest256) throws(StoreError) -> [UInt8] {
        let p = path(hash)
        let fd = open(p, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .missingChunk(hash: hash.hex) }
            throw .io(path: p, operation: "open", errno: errno)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: p, operation: "stat", errno: errno) }
        return try Self.readFully(fd, count: Int(info.st_size), offset: 0, path: p)
    }

    /// The alignment (address and length) at which ``writePack(_:)`` can bypass the page cache.
    package static let directIOAlignment = 4096

    /// Writes chunks' stored bytes (back to back, as the caller laid them out) as a new pack file
    /// and makes it durable (data, then the folder entry) before returning, so catalogue rows may
    /// point into it at once.
    ///
    /// When `bytes` starts at an address and has a length that are multiples of
    /// ``directIOAlignment`` (the caller pads with zeros), the file is written with `O_DIRECT`: the
    /// device reads the caller's buffer, and the copy into the page cache, which perf showed as a
    /// fifth of a fetch's receiving CPU, is skipped. Filesystems without `O_DIRECT` get an ordinary
    /// write.
    /// - Returns: the pack's name under `chunks/packs/`.
    package func writePack(_ bytes: UnsafeRawBufferPointer) throws(StoreError) -> String {
        let folder = root + "/packs"
        try Self.makeDirectory(folder)
        let name = String(UInt64.random(in: 0...UInt64.max), radix: 16) + ".pack"
        let path = folder + "/" + name
        let alignment = Self.directIOAlignment
        let aligned =
            bytes.count > 0 && bytes.count % alignment == 0
            && Int(bitPattern: bytes.baseAddress) % alignment == 0
        var fd: Int32 = -1
        if aligned {
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | trustmesh_o_direct(), 0o600)
            if fd < 0 && errno == EINVAL { unlink(path) }  // no O_DIRECT here: fall back below
        }
        if fd < 0 {
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw .io(path: path, operation: "create", errno: errno) }
        do throws(StoreError) {
            try Self.writeAll(fd, bytes, path: path)
            guard fdatasync(fd) == 0 else { throw StoreError.io(path: path, operation: "fdatasync", errno: errno) }
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        close(fd)
        try Self.fsyncDirectory(folder)
        return name
    }

    /// The stored bytes of a chunk in a pack.
    package func read(_ hash: Digest256, at location: PackLocation) throws(StoreError) -> [UInt8] {
        let path = root + "/packs/" + location.pack
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .missingChunk(hash: hash.hex) }
            throw .io(path: path, operation: "open", errno: errno)
        }
        defer { close(fd) }
        return try Self.readFully(fd, count: location.length, offset: location.offset, path: path)
    }

    /// Reads a chunk of its own, which must be exactly `destination.count` bytes, into `destination`.
    package func read(_ hash: Digest256, into destination: UnsafeMutableRawBufferPointer) throws(StoreError) {
        let p = path(hash)
        let fd = open(p, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .missingChunk(hash: hash.hex) }
            throw .io(path: p, operation: "open", errno: errno)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: p, operation: "stat", errno: errno) }
        guard Int(info.st_size) == destination.count else {
            throw .corruptChunk(
                hash: hash.hex, reason: "its file holds \(info.st_size) bytes, not \(destination.count)")
        }
        try Self.readFully(fd, into: destination, offset: 0, path: p)
    }

    /// Reads a chunk's bytes from its pack into `destination` (`location.length` bytes).
    package func read(
        _ hash: Digest256, at location: PackLocation, into destination: UnsafeMutableRawBufferPointer
    ) throws(StoreError) {
        let path = root + "/packs/" + location.pack
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .missingChunk(hash: hash.hex) }
            throw .io(path: path, operation: "open", errno: errno)
        }
        defer { close(fd) }
        try Self.readFully(
            fd, into: UnsafeMutableRawBufferPointer(rebasing: destination[..<location.length]), offset: location.offset,
            path: path)
    }

    private static func readFully(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int, path: String
    ) throws(StoreError) {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { throw .io(path: path, operation: "read", errno: EIO) }
            done += n
        }
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

    private static func readFully(_ fd: Int32, count: Int, offset: Int, path: String) throws(StoreError) -> [UInt8] {
        var failure: StoreError?
        let bytes = [UInt8](unsafeUninitializedCapacity: max(count, 1)) { buffer, initialized in
            do throws(StoreError) {
                try readFully(
                    fd, into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[..<count]),
                    offset: offset, path: path)
                initialized = count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Size and last modification (seconds since 1970) of a file on disk.
    package struct FileInfo {
        package var size: Int
        package var modified: Double
    }

    /// Every file in the fan-out folders (chunks of their own and leftover temporary files).
    package func looseFiles() -> [(path: String, info: FileInfo)] {
        var found: [(String, FileInfo)] = []
        for folder in Self.entries(root) where folder.count == 2 {
            let directory = root + "/" + folder
            for name in Self.entries(directory) {
                if let info = Self.info(directory + "/" + name) { found.append((directory + "/" + name, info)) }
            }
        }
        return found
    }

    /// Every pack file.
    package func packFiles() -> [(path: String, info: FileInfo)] {
        let folder = root + "/packs"
        return Self.entries(folder).filter { $0.hasSuffix(".pack") }.compactMap { name in
            Self.info(folder + "/" + name).map { (folder + "/" + name, $0) }
        }
    }

    private static func entries(_ directory: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    }

    private static func info(_ path: String) -> FileInfo? {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileInfo(
            size: Int(status.st_size),
            modified: Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9)
    }

    package func remove(_ hash: Digest256) {
        unlink(path(hash))
    }

    /// Flushes every file and rename on the chunk store's filesystem (`syncfs(2)`).
    package func syncFilesystem() throws(StoreError) {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: root, operation: "open", errno: errno) }
        defer { close(fd) }
        guard trustmesh_syncfs(fd) == 0 else { throw .io(path: root, operation: "syncfs", errno: errno) }
    }

    static func fsyncDirectory(_ path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .io(path: path, operation: "fsync", errno: errno) }
    }

    static func makeDirectory(_ path: String) throws(StoreError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw .io(path: path, operation: "mkdir", errno: errno)
        }
    }
}
