internal import CLinux
import Glibc
import Synchronization
package import TrustMeshCrypto

/// Where chunk bytes live: each chunk once, named by the BLAKE2b-256 of its plaintext, holding its
/// zstd frame exactly as it is sent to peers.
///
/// The catalogue, not the directory, says which chunks exist: a file with no catalogue row is an
/// orphan of an interrupted ingest and is simply overwritten when that chunk is next written.
package protocol ChunkStore: Sendable {
    /// Stores a chunk's compressed bytes durably (temporary file, fsync, rename).
    func write(_ hash: Digest256, compressed: UnsafeRawBufferPointer) throws(StoreError)
    /// The compressed bytes of a chunk.
    func read(_ hash: Digest256) throws(StoreError) -> [UInt8]
    /// Removes a chunk's file, if present.
    func remove(_ hash: Digest256)
    /// Makes the renames of written chunks durable (fsync of their directories).
    func syncDirectories() throws(StoreError)
}

/// A ``ChunkStore`` in a directory: `chunks/ab/abcdef…` (256 fan-out folders by first byte).
package final class FileChunkStore: ChunkStore {
    private let root: String
    private let dirtyDirectories = Mutex<Set<String>>([])

    /// Opens (creating if needed) the chunk folders under `root`.
    package init(root: String) throws(StoreError) {
        self.root = root
        try Self.makeDirectory(root)
    }

    package func path(_ hash: Digest256) -> String {
        let hex = hash.hex
        return root + "/" + hex.prefix(2) + "/" + hex
    }

    package func write(_ hash: Digest256, compressed: UnsafeRawBufferPointer) throws(StoreError) {
        try write(hash, compressed: compressed, durably: true)
    }

    /// Writes a chunk. With `durably: false` the file is not fsynced: the caller must call
    /// ``syncFilesystem()`` before any catalogue row points at it (a batch then pays for one flush
    /// instead of one per chunk). Until then a crash may leave a partly written file under the
    /// final name, which is harmless: the catalogue does not list it, and the next write of that
    /// chunk replaces it.
    package func write(_ hash: Digest256, compressed: UnsafeRawBufferPointer, durably: Bool) throws(StoreError) {
        let hex = hash.hex
        let directory = root + "/" + hex.prefix(2)
        try Self.makeDirectory(directory)
        let final = directory + "/" + hex
        // A unique temporary name per writer (two ingests may write the same chunk at once), in the
        // chunk's own folder: creating every temporary file in one shared folder serialises writers
        // on that folder's lock, and a rename within a folder is the cheapest kind.
        let temp = directory + "/." + hex + "." + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: temp, operation: "create", errno: errno) }
        var done = 0
        while done < compressed.count {
            let n = Glibc.write(fd, compressed.baseAddress! + done, compressed.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                close(fd)
                unlink(temp)
                throw .io(path: temp, operation: "write", errno: e)
            }
            done += n
        }
        // fsync before rename: after a crash the name must never point at a partly written file.
        if !durably {
            // Start writing back now; the batch's flush then waits for less (advisory: errors are
            // caught by that flush).
            _ = trustmesh_start_writeback(fd)
        }
        if durably && fsync(fd) != 0 {
            let e = errno
            close(fd)
            unlink(temp)
            throw .io(path: temp, operation: "fsync", errno: e)
        }
        close(fd)
        if rename(temp, final) != 0 {
            let e = errno
            unlink(temp)
            throw .io(path: final, operation: "rename", errno: e)
        }
        dirtyDirectories.withLock { _ = $0.insert(directory) }
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
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        let failure: Int32? = bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let n = pread(fd, buffer.baseAddress! + done, size - done, off_t(done))
                if n < 0 { if errno == EINTR { continue }; return errno }
                if n == 0 { return EIO }
                done += n
            }
            return nil
        }
        if let failure { throw .io(path: p, operation: "read", errno: failure) }
        return bytes
    }

    package func remove(_ hash: Digest256) {
        unlink(path(hash))
    }

    package func syncDirectories() throws(StoreError) {
        let directories = dirtyDirectories.withLock { dirs in
            defer { dirs.removeAll() }
            return dirs
        }
        for directory in directories {
            try Self.fsyncDirectory(directory)
        }
    }

    /// Flushes every file and rename on the chunk store's filesystem (`syncfs(2)`), then forgets the
    /// directories waiting for ``syncDirectories()``, which this covers.
    package func syncFilesystem() throws(StoreError) {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: root, operation: "open", errno: errno) }
        defer { close(fd) }
        guard trustmesh_syncfs(fd) == 0 else { throw .io(path: root, operation: "syncfs", errno: errno) }
        dirtyDirectories.withLock { $0.removeAll() }
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
